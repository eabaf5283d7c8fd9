"""Published figures: small-count suppression, the figures themselves, their charts and the
public pages that show them."""
