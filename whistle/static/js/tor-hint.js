// A gentle hint when this browser is plainly not Tor Browser. It runs here only: no request,
// nothing stored. Tor Browser is Firefox-based and cannot be told apart from Firefox reliably
// (resistFingerprinting hides what would tell), so the hint appears only when the browser is
// clearly not Firefox-based, and never on the onion address (which only Tor can open).
const hint = document.getElementById("tor-hint");
const onOnion = location.hostname.endsWith(".onion");
// Gecko alone styles with -moz- prefixed properties; the user-agent string can lie either way.
const gecko = "MozAppearance" in document.documentElement.style || /\bFirefox\//.test(navigator.userAgent);
if (hint && !onOnion && !gecko) hint.hidden = false;
