// A customer's page: the entitlement form shows only the fields of the chosen kind. The others are
// disabled as well as hidden, so they are neither required nor sent (the API refuses a field the kind
// does not have).
(function () {
  "use strict";

  function sync(select) {
    Array.prototype.forEach.call(select.form.querySelectorAll("[data-kind]"), function (group) {
      var shown = group.getAttribute("data-kind") === select.value;
      group.hidden = !shown;
      Array.prototype.forEach.call(group.querySelectorAll("input, select, textarea"), function (el) {
        el.disabled = !shown;
      });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("select[data-kinds]"), function (select) {
    sync(select);
    select.addEventListener("change", function () { sync(select); });
  });
})();
