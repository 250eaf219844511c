// Search as you type: the page works without this; with it, the results below the box
// follow what is typed (the server renders them, escaped, as it renders the whole page).
(function () {
  var box = document.getElementById("live-q");
  var results = document.getElementById("results");
  if (!box || !results) return;
  var timer = null, asked = 0;
  box.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var q = box.value.trim();
      var mine = ++asked;
      var params = new URLSearchParams({ index: box.dataset.index, q: q, fragment: "1" });
      fetch("/search?" + params.toString(), { credentials: "same-origin" })
        .then(function (answer) { return answer.text(); })
        .then(function (html) {
          if (mine !== asked) return; // a later query is on its way
          results.innerHTML = html;
          history.replaceState(null, "", "/search?" + new URLSearchParams({ index: box.dataset.index, q: q }));
        });
    }, 250);
  });
})();
