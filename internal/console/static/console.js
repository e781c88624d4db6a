// plugd console: progressive enhancement only; every page works without this script.
(function () {
  "use strict";
  var csrf = document.body.getAttribute("data-csrf") || "";

  // Forms marked data-confirm ask first.
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
    });
  });

  // An install task's page follows the task until it ends.
  var task = document.getElementById("task");
  if (task) {
    var done = function (s) { return s === "success" || s === "failed"; };
    var render = function (t) {
      var st = document.getElementById("task-status");
      st.textContent = t.status;
      st.className = "badge " + t.status;
      document.getElementById("task-count").textContent = t.completed_plugins + " of " + t.total_plugins;
      var ul = document.getElementById("task-items");
      ul.textContent = "";
      (t.plugins || []).forEach(function (p) {
        var li = document.createElement("li");
        var code = document.createElement("code");
        code.className = "id";
        code.textContent = p.plugin_unique_identifier;
        var b = document.createElement("span");
        b.className = "badge " + p.status;
        b.textContent = p.status;
        li.append(code, " ", b);
        [["phase: ", p.phase, "small"], ["", p.progress, "small mono"], ["", p.message, "small"]].forEach(function (x) {
          if (!x[1]) return;
          var s = document.createElement("span");
          s.className = x[2];
          s.textContent = x[0] + x[1];
          li.append(document.createElement("br"), s);
        });
        ul.append(li);
      });
      task.setAttribute("data-status", t.status);
    };
    var poll = function () {
      if (done(task.getAttribute("data-status"))) return;
      fetch(task.getAttribute("data-poll"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (t) { if (t && t.status) render(t); })
        .catch(function () {})
        .finally(function () { if (!done(task.getAttribute("data-status"))) setTimeout(poll, 700); });
    };
    setTimeout(poll, 300);
  }

  // An OAuth authorization's page follows the flow until the callback has finished it.
  var flow = document.getElementById("flow");
  if (flow) {
    var ended = function (s) { return s === "done" || s === "failed" || s === "expired"; };
    var follow = function () {
      if (ended(flow.getAttribute("data-status"))) return;
      fetch(flow.getAttribute("data-poll"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (f) {
          if (!f || !f.status) return;
          var st = document.getElementById("flow-status");
          st.textContent = f.status;
          st.className = "badge " + f.status;
          document.getElementById("flow-error").textContent = f.error || "";
          flow.setAttribute("data-status", f.status);
          if (f.status === "done") setTimeout(function () { window.location.replace(window.location.pathname.replace(/\/oauth\/connect$/, "/oauth") + "?done=" + encodeURIComponent(f.provider_id + " is connected.")); }, 600);
        })
        .catch(function () {})
        .finally(function () { if (!ended(flow.getAttribute("data-status"))) setTimeout(follow, 1000); });
    };
    setTimeout(follow, 1000);
  }

  // A tool's form streams its result: each `data:` event is one message.
  var form = document.getElementById("try-form");
  if (form && window.fetch && window.TextDecoder) {
    var out = document.getElementById("result");
    var show = function (text, cls) {
      var pre = document.createElement("pre");
      pre.className = cls || "msg";
      pre.textContent = text;
      out.append(pre);
    };
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      out.textContent = "";
      out.setAttribute("aria-busy", "true");
      var count = 0, buf = "";
      var handle = function (line) {
        if (line.indexOf("data:") !== 0) return;
        var env;
        try { env = JSON.parse(line.slice(5)); } catch (err) { show("not JSON: " + line, "note err"); return; }
        if (env.code !== 0) { show(env.message, "note err"); return; }
        count++;
        show(JSON.stringify(env.data, null, 2));
      };
      fetch(form.action, {
        method: "POST", credentials: "same-origin",
        headers: { Accept: "text/event-stream", "X-CSRF-Token": csrf },
        body: new URLSearchParams(new FormData(form))
      }).then(function (r) {
        if (!r.ok && (r.headers.get("Content-Type") || "").indexOf("text/event-stream") < 0) {
          return r.text().then(function (t) {
            var msg = t;
            try { msg = JSON.parse(t).message || t; } catch (err) {}
            show(msg, "note err");
          });
        }
        var reader = r.body.getReader(), dec = new TextDecoder();
        var pump = function () {
          return reader.read().then(function (x) {
            if (x.done) { if (buf) handle(buf); return; }
            buf += dec.decode(x.value, { stream: true });
            var i;
            while ((i = buf.indexOf("\n")) >= 0) { handle(buf.slice(0, i).trim()); buf = buf.slice(i + 1); }
            return pump();
          });
        };
        return pump();
      }).catch(function (err) { show(String(err), "note err"); })
        .finally(function () {
          if (count === 0 && !out.querySelector(".err")) show("No message.", "muted");
          out.setAttribute("aria-busy", "false");
          out.setAttribute("data-done", "true");
          button.disabled = false;
        });
    });
  }
})();
