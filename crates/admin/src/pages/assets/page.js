// The settings pages' only script, served at /admin/assets/page.js. Everything works without
// it: it hides the blocks that do not apply to the chosen markers and wires the copy button.
(function () {
  function sync() {
    var tags = document.getElementById('set_tags');
    var entity = document.getElementById('default_entity');
    var tagsBlock = document.getElementById('tags-block');
    var campaignBlock = document.getElementById('campaign-block');
    var sourceBlock = document.getElementById('source-block');
    if (tags && tagsBlock) { tagsBlock.hidden = !tags.checked; }
    if (entity && campaignBlock && sourceBlock) {
      campaignBlock.hidden = entity.checked;
      sourceBlock.hidden = !entity.checked;
    }
  }
  document.addEventListener('change', sync);
  sync();
  var button = document.getElementById('copy-webhook-url');
  if (button && navigator.clipboard) {
    button.hidden = false;
    button.addEventListener('click', function () {
      var url = document.getElementById('webhook-url');
      if (!url) { return; }
      navigator.clipboard.writeText(url.textContent).then(function () {
        var done = button.getAttribute('data-copied');
        if (done) { button.textContent = done; }
      });
    });
  }
})();
