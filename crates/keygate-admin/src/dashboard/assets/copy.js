// The copy button of a new key: served as a file (the CSP allows script-src 'self'
// and no inline script). Without JavaScript the key stays selectable in its field.
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copy]");
  if (!button) return;
  var field = document.getElementById(button.getAttribute("data-copy"));
  var status = document.getElementById("copy-status");
  if (!field) return;
  field.select();
  var done = function (ok) {
    if (status) status.textContent = ok ? "Copied to the clipboard." : "Select the key and copy it (Ctrl+C).";
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(function () { done(true); }, function () { done(false); });
  } else {
    done(document.execCommand && document.execCommand("copy"));
  }
});
