// "Print / save as PDF" (no inline script: the site's CSP refuses it), and every figure
// loaded before printing: a lazy image below the fold would print as an empty box.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-print]");
  if (button) window.print();
});
window.addEventListener("beforeprint", () => {
  document.querySelectorAll('img[loading="lazy"]').forEach((img) => { img.loading = "eager"; });
});
