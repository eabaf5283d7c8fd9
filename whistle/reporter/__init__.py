"""The reporter side: pages that work without JavaScript, and the JSON API the browser uses.

Reporter responses never set a cookie; everything a visit needs travels in the page.
"""
