// Probability sliders: a convenience over the number inputs, which are the real form fields.
// Without JavaScript the sliders stay hidden and the form works with the numbers alone.
(function () {
  "use strict";
  // An unanswered probability has no value and no slider position: a thumb at 50 % would be
  // an anchor placed by the form. The slider shows no thumb and reads "not answered" until
  // the expert sets it (by pointer, keyboard or the number).
  document.querySelectorAll("input[type=range][data-sync]").forEach(function (slider) {
    var number = document.getElementById(slider.dataset.sync);
    if (!number) { return; }
    function setUnset(unset) {
      slider.classList.toggle("unset", unset);
      if (unset) {
        slider.setAttribute("aria-valuetext", slider.dataset.unsetText || "not answered");
      } else {
        slider.setAttribute("aria-valuetext", slider.value + " %");
      }
    }
    function fromNumber() {
      var value = parseFloat(number.value);
      if (number.value.trim() !== "" && !isNaN(value) && value >= 0 && value <= 100) {
        slider.value = String(value);
        setUnset(false);
      } else {
        setUnset(true);
      }
    }
    slider.hidden = false;
    fromNumber();
    slider.addEventListener("input", function () {
      number.value = slider.value;
      setUnset(false);
    });
    number.addEventListener("input", fromNumber);
  });
  // A form in parts: leaving a part by a link (the parts list) with unsaved changes asks
  // first, as the browser does; saving (any submit button) does not.
  var form = document.getElementById("answers-form");
  if (form && form.querySelector("input[name=part]")) {
    var dirty = false;
    form.addEventListener("input", function () { dirty = true; });
    form.addEventListener("submit", function () { dirty = false; });
    window.addEventListener("beforeunload", function (event) {
      if (dirty) { event.preventDefault(); event.returnValue = ""; }
    });
  }
  // After a failed save, move focus to the error summary so screen readers announce it.
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
