// Apply the theme before first paint (no flash): the saved choice, else the OS preference.
// An external file, so a strict Content-Security-Policy (script-src 'self') allows it.
(function () {
  try {
    var s = JSON.parse(localStorage.getItem('jonbu-settings') || '{}');
    var t = (s.state && s.state.theme) || 'system';
    var dark = t === 'dark' || (t === 'system' && window.matchMedia('(prefers-color-scheme: dark)').matches);
    document.documentElement.classList.toggle('dark', dark);
  } catch (e) {
    /* storage unavailable: keep the default */
  }
})();
