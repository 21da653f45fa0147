// Follows a run in flight: polls its progress JSON every 2 s, moves the bar, and reloads
// the page when the run ends (succeeded or failed). Without JavaScript the page refreshes
// itself (a <meta http-equiv="refresh"> inside <noscript>).
(function () {
  "use strict";
  var box = document.querySelector("[data-progress-url]");
  if (!box || !window.fetch) return;
  var bar = box.querySelector("progress");
  var phase = box.querySelector("[data-phase]");
  var percent = box.querySelector("[data-percent]");
  var stalled = box.querySelector("[data-stalled]");
  var url = box.getAttribute("data-progress-url");

  function show(state) {
    if (bar) bar.value = state.overall;
    if (phase) phase.textContent = state.phase_label;
    if (percent) percent.textContent = Math.round(state.overall * 100) + " %";
    if (stalled) stalled.hidden = !state.stalled;
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (state) {
        if (state.finished) {
          window.location.reload();
          return;
        }
        show(state);
        window.setTimeout(poll, 2000);
      })
      .catch(function () { window.setTimeout(poll, 5000); });  // server restarting: keep trying
  }
  window.setTimeout(poll, 2000);
})();
