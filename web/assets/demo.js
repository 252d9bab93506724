"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const status = (text) => { $("status").textContent = text; };
  let tokens = null;

  const show = (t) => {
    tokens = t;
    $("tokens").textContent = JSON.stringify(t, null, 2);
    $("tokens").hidden = false;
    $("refresh").disabled = !t.refresh_token;
  };

  $("login").addEventListener("click", async () => {
    $("login").disabled = true;
    try {
      status("Asking handoff for a login URL…");
      const res = await fetch("authorize", { method: "POST" });
      if (!res.ok) throw new Error("authorize answered " + res.status);
      const { url, readKey } = await res.json();
      window.open(url, "handoff-login", "width=520,height=680");
      status("Waiting for you to log in in the popup…");
      for (;;) {
        await new Promise((r) => setTimeout(r, 1000));
        const poll = await fetch("poll?readKey=" + encodeURIComponent(readKey), { method: "POST" });
        if (poll.status === 404) continue;
        if (poll.status === 200) { show(await poll.json()); status("Logged in: the tokens below came through handoff."); break; }
        const body = await poll.json().catch(() => ({}));
        if (poll.status === 429) { continue; }
        status(body.error === "access_denied" ? "Login cancelled." : "Login failed: " + (body.error || poll.status));
        break;
      }
    } catch (e) {
      status("Error: " + e.message);
    } finally {
      $("login").disabled = false;
    }
  });

  $("refresh").addEventListener("click", async () => {
    if (!tokens || !tokens.refresh_token) return;
    const res = await fetch("refresh", { method: "POST", body: new URLSearchParams({ refresh_token: tokens.refresh_token }) });
    const body = await res.json();
    if (res.ok) { show(body); status("Refreshed: new access token below."); }
    else status("Refresh failed: " + (body.error || res.status));
  });
})();
