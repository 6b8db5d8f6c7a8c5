// Quick exit: leave for a neutral site at once, replacing this page in the history, so that
// "back" does not return to it. The link works without JavaScript too (it only adds an entry).
const exit = document.getElementById("quick-exit");
if (exit) {
  exit.addEventListener("click", (event) => {
    event.preventDefault();
    window.location.replace(exit.href);
  });
}
