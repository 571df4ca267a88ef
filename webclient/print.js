// The "Cetak" buttons of the printable pages (evaluation, letters, the risalah,
// the monthly report). The pages' Content-Security-Policy runs scripts from
// 'self' only, so an inline onclick="window.print()" never runs: the button
// carries data-print and this file, served from /static/, wires it.
for (const button of document.querySelectorAll("[data-print]")) {
  button.addEventListener("click", () => window.print());
}
