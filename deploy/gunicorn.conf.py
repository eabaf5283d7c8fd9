"""gunicorn settings for whistle: `gunicorn -c deploy/gunicorn.conf.py 'whistle:create_app()'`."""
import multiprocessing

bind = "127.0.0.1:8000"
workers = max(2, multiprocessing.cpu_count())
threads = 4  # argon2id and uploads release the GIL; threads keep slow clients from blocking
timeout = 300  # large sealed uploads over Tor are slow
accesslog = None  # access lines carry addresses and times: never written
errorlog = "-"
loglevel = "warning"
# Never let gunicorn log request headers or forwarded addresses.
access_log_format = ""
forwarded_allow_ips = "127.0.0.1"
limit_request_field_size = 8190
