// The welcome post's live preview: as the member types, ask the server for the post as
// Bluesky will show it (facets, length in graphemes) and draw it. The page works without
// this script: its "Preview" button shows the same, rendered by the server.
(function () {
  "use strict";
  var form = document.getElementById("welcome-form");
  var area = document.getElementById("welcome_text");
  var box = document.getElementById("welcome-preview");
  if (!form || !area || !box || !window.fetch) { return; }
  var timer = null;
  var asked = 0;

  function draw(data) {
    box.textContent = "";
    var count = document.createElement("p");
    count.id = "welcome-count";
    count.className = "welcome-count" + (data.fits ? "" : " over");
    count.textContent = (box.getAttribute("data-count") || "{n} / {max}")
      .replace("{n}", data.graphemes).replace("{max}", data.limit) +
      (data.fits ? "" : " — " + (box.getAttribute("data-over") || ""));
    box.appendChild(count);
    var quote = document.createElement("blockquote");
    quote.id = "welcome-rendered";
    quote.className = "welcome-preview";
    data.segments.forEach(function (s) {
      var node;
      if (s.kind === "link") {
        node = document.createElement("a");
        node.href = s.value;
        node.rel = "nofollow noopener";
        node.className = "facet-link";
      } else if (s.kind) {
        node = document.createElement("span");
        node.className = "facet-" + s.kind;
        node.title = s.value;
      } else {
        quote.appendChild(document.createTextNode(s.text));
        return;
      }
      node.textContent = s.text;
      quote.appendChild(node);
    });
    box.appendChild(quote);
    if (data.unresolved.length) {
      var missing = document.createElement("p");
      missing.className = "help";
      missing.id = "welcome-unresolved";
      missing.textContent = (box.getAttribute("data-unresolved") || "{handles}")
        .replace("{handles}", data.unresolved.join(", "));
      box.appendChild(missing);
    }
  }

  function ask() {
    var mine = ++asked;
    var body = new URLSearchParams();
    body.set("csrf", form.elements.csrf.value);
    body.set("welcome_text", area.value);
    fetch("/member/departure/preview.json", {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "application/json" },
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (data) {
      if (data && mine === asked) { draw(data); }
    }).catch(function () { /* the Preview button still works */ });
  }

  area.addEventListener("input", function () {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(ask, 500);  // a pause in typing, not every key: forms are rate-limited
  });
})();
