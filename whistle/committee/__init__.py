"""The committee workspace: members log in with a password and TOTP, unlock their own key in
the browser, and work on the cases routing granted them. The server never sees plaintext."""
