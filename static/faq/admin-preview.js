// Live preview of an article's Markdown in Django admin. The server renders and sanitises
// (faq.rendering), so the HTML inserted here is the same as the public page shows.
(function () {
  "use strict";
  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
  function start() {
    var preview = document.querySelector(".faq-preview");
    var source = document.getElementById("id_body_markdown");
    if (!preview || !source || !source.form) { return; }
    var timer = null;
    var pending = null;
    function refresh() {
      if (pending) { pending.abort(); }
      pending = new AbortController();
      var body = new FormData();
      body.append("body_markdown", source.value);
      fetch(preview.dataset.previewUrl, {
        method: "POST",
        body: body,
        headers: { "X-CSRFToken": csrfToken(source.form) },
        credentials: "same-origin",
        signal: pending.signal
      }).then(function (response) {
        if (!response.ok) { throw new Error("preview failed with HTTP " + response.status); }
        return response.json();
      }).then(function (data) {
        preview.innerHTML = data.html;
      }).catch(function (error) {
        if (error.name !== "AbortError") { preview.setAttribute("data-error", error.message); }
      });
    }
    source.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 400);
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
