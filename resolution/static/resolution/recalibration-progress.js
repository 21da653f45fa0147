// Follows a recalibration in flight and reloads the page when it has finished.
(function () {
  const box = document.querySelector("[data-progress-url]");
  if (!box) return;
  const bar = box.querySelector("progress");
  async function poll() {
    try {
      const response = await fetch(box.dataset.progressUrl, { credentials: "same-origin" });
      if (response.ok) {
        const state = await response.json();
        if (state.finished) { window.location.reload(); return; }
        if (bar) bar.value = state.progress;
      }
    } catch (error) { /* the network blinked: try again */ }
    window.setTimeout(poll, 1500);
  }
  window.setTimeout(poll, 1000);
})();
