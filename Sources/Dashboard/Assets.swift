import Vocabulary

/// The dashboard's own stylesheet and script, served by the binary: no CDN, nothing from any
/// other host, so it works on an air-gapped cluster.
enum Assets {
    static let css = """
        :root { --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --accent: #0969da; --bg: #ffffff; --panel: #f6f8fa; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: var(--bg); }
        header { display: flex; gap: 1.5rem; align-items: center; padding: .6rem 1.2rem; border-bottom: 1px solid var(--line); background: var(--panel); flex-wrap: wrap; }
        header nav { display: flex; flex-wrap: wrap; gap: .2rem 1rem; } header nav a { color: var(--accent); text-decoration: none; }
        header nav a[aria-current] { font-weight: 600; color: var(--ink); }
        #live-state { margin-left: auto; color: var(--muted); font-size: 12px; }
        main { padding: 1rem 1.2rem 3rem; max-width: 1280px; }
        h1 { font-size: 1.4rem; margin: .2rem 0; } h2 { font-size: 1.05rem; margin: 1.2rem 0 .4rem; }
        .lead { color: var(--muted); margin-top: 0; }
        .cards { display: flex; flex-wrap: wrap; gap: 1rem; }
        .card { border: 1px solid var(--line); border-radius: 6px; padding: .2rem .9rem .8rem; min-width: 240px; flex: 1; }
        dl { display: grid; grid-template-columns: auto 1fr; gap: .2rem 1rem; margin: 0; } dt { color: var(--muted); } dd { margin: 0; }
        table.data { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
        table.data th, table.data td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        table.data th { background: var(--panel); font-weight: 600; }
        table.sortable th { cursor: pointer; user-select: none; }
        table.data th a { color: inherit; text-decoration: none; display: block; } table.data th[aria-sort] a { color: var(--accent); }
        tr.baseline td { color: var(--muted); font-style: italic; } #leaderboard td { white-space: nowrap; }
        td pre { margin: 0; white-space: pre-wrap; font-size: 12px; max-width: 40rem; }
        .table-scroll, main > table { display: block; overflow-x: auto; }
        .filter { display: block; margin: .6rem 0; } .filter input { width: min(28rem, 100%); padding: .3rem .5rem; }
        a.button { border: 1px solid var(--line); border-radius: 4px; padding: 0 .4rem; text-decoration: none; color: var(--accent); white-space: nowrap; }
        figure.chart { margin: 1rem 0; max-width: 720px; } figure.chart figcaption { font-weight: 600; margin-bottom: .3rem; }
        figure.chart > svg { width: 100%; height: auto; } figure.chart.wide { max-width: 100%; }
        svg .axis-line { stroke: #8c959f; } form.pick select { min-width: 22rem; max-width: 100%; vertical-align: top; }
        svg .plot { fill: #fff; stroke: var(--line); } svg .grid { stroke: #eef1f4; } svg .tick, svg .axis { font-size: 11px; fill: var(--muted); }
        svg .error-bar { stroke-width: 1.5; opacity: .7; } form.pick.axes select { min-width: 0; }
        svg .reference { stroke: #6e7781; stroke-dasharray: 6 4; stroke-width: 1.5; } svg .mark { stroke: #bf8700; stroke-dasharray: 2 3; stroke-width: 1.5; }
        ul.legend { list-style: none; padding: 0; margin: .3rem 0; display: flex; gap: 1rem; flex-wrap: wrap; font-size: 12px; color: var(--muted); }
        .swatch { display: inline-block; width: 12px; height: 4px; margin-right: 4px; vertical-align: middle; flex: none; }
        .swatch.reference { border-top: 2px dashed #6e7781; height: 0; } .swatch.mark { border-top: 2px dotted #bf8700; height: 0; }
        details summary { cursor: pointer; color: var(--accent); font-size: 12px; }
        .note, .empty { color: var(--muted); }
        @media (max-width: 600px) { main { padding: .6rem; } .card { min-width: 100%; } header { gap: .6rem; padding: .6rem; } }
        """

    /// The tab's icon: three bars of a leaderboard.
    static let icon = """
        <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0969da"/>\
        <rect x="3" y="3" width="10" height="2.4" fill="#fff"/><rect x="3" y="6.8" width="7" height="2.4" fill="#fff"/>\
        <rect x="3" y="10.6" width="4" height="2.4" fill="#fff"/></svg>
        """

    /// Swaps in a fresh `<main>` every 2 s (keeping the sort of client-sorted tables, open
    /// tables behind charts, and the filter's text and caret), sorts `table.sortable` by a clicked
    /// header, and sends the leaderboard's filter to the server as the user types.
    static let js = """
        "use strict";
        (function () {
          const main = document.getElementById("live");
          const state = document.getElementById("live-state");
          let sortState = null, typing = null;
          function sortTable(table, column, descending) {
            const body = table.tBodies[0];
            const rows = Array.from(body.querySelectorAll("tr[data-row]"));
            const key = function (row) { const text = row.cells[column] ? row.cells[column].textContent.trim() : ""; const n = parseFloat(text); return isNaN(n) ? text : n; };
            rows.sort(function (a, b) { const x = key(a), y = key(b); const order = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y)); return descending ? -order : order; });
            const baseline = body.querySelector("tr.baseline");
            rows.forEach(function (row) { body.insertBefore(row, baseline); });
          }
          function wire() {
            const input = document.getElementById("filter");
            if (input) input.addEventListener("input", function () {
              clearTimeout(typing);
              typing = setTimeout(function () {
                const url = new URL(location.href);
                if (input.value) url.searchParams.set("q", input.value); else url.searchParams.delete("q");
                history.replaceState(null, "", url);
                refresh();
              }, 250);
            });
            document.querySelectorAll("table.sortable").forEach(function (table) {
              Array.from(table.tHead ? table.tHead.rows[0].cells : []).forEach(function (cell, column) {
                cell.addEventListener("click", function () {
                  const descending = sortState && sortState.table === table.id && sortState.column === column ? !sortState.descending : false;
                  sortState = { table: table.id, column: column, descending: descending };
                  sortTable(table, column, descending);
                });
              });
            });
            if (sortState) { const table = document.getElementById(sortState.table); if (table) sortTable(table, sortState.column, sortState.descending); }
          }
          function refresh() {
            const url = new URL(location.href);
            url.searchParams.set("fragment", "1");
            url.searchParams.delete("token");
            fetch(url, { cache: "no-store", credentials: "same-origin" }).then(function (response) {
              if (!response.ok) throw new Error(response.status + " " + response.statusText);
              return response.text();
            }).then(function (html) {
              const filter = document.getElementById("filter");
              const focused = filter !== null && document.activeElement === filter;
              const typed = filter ? filter.value : null, caret = focused ? filter.selectionStart : null;
              const open = Array.from(main.querySelectorAll("details")).map(function (d) { return d.open; });
              main.innerHTML = html;
              const again = document.getElementById("filter");
              if (again && typed !== null) {
                again.value = typed;
                if (focused) { again.focus(); again.setSelectionRange(caret, caret); }
              }
              main.querySelectorAll("details").forEach(function (d, i) { if (open[i]) d.open = true; });
              document.body.dataset.updates = String(Number(document.body.dataset.updates || "0") + 1);
              state.textContent = "updated " + new Date().toLocaleTimeString();
              wire();
            }).catch(function (error) { state.textContent = "not updated: " + error.message; });
          }
          wire();
          setInterval(refresh, 2000);
        })();
        """
}
