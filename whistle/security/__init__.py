"""What stands between the network and the data: the client-address rule (privacy), proof of
work, server-side sessions and rate-limit storage (memory or Redis)."""
