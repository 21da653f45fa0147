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
    function set(value) {
      slider.value = String(Math.max(0, Math.min(100, Math.round(value))));
      number.value = slider.value;
      setUnset(false);
      number.dispatchEvent(new Event("input", { bubbles: true }));  // the form is now dirty
    }
    function isUnset() { return slider.classList.contains("unset"); }
    slider.hidden = false;
    fromNumber();
    slider.addEventListener("input", function () {
      number.value = slider.value;
      setUnset(false);
    });
    // Assistive technologies may set the value with a change event alone.
    slider.addEventListener("change", function () {
      number.value = slider.value;
      setUnset(false);
    });
    // The hidden thumb still sits at 50, where the first touch must not start from: a
    // click at the middle would change nothing (no input event), and ArrowRight would give
    // 51. So the first pointer press sets the value where it landed, and the first key
    // sets it from the end the key moves away from (Right/Up: from 0, Left/Down: from 100).
    slider.addEventListener("pointerdown", function (event) {
      if (!isUnset()) { return; }
      var box = slider.getBoundingClientRect();
      if (box.width > 0) { set(((event.clientX - box.left) / box.width) * 100); }
    });
    var firstKey = {
      ArrowRight: 1, ArrowUp: 1, PageUp: 10, Home: 0,
      ArrowLeft: 99, ArrowDown: 99, PageDown: 90, End: 100
    };
    slider.addEventListener("keydown", function (event) {
      if (!isUnset() || !(event.key in firstKey)) { return; }
      event.preventDefault();
      set(firstKey[event.key]);
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
