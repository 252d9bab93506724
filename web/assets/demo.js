"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const status = (text) => { $("status").textContent = text; };
  let tokens = null;
  // cancel, while a login waits, stops it: no more polls, popup closed.
  let cancel = null;

  const show = (t) => {
    tokens = t;
    $("tokens").textContent = JSON.stringify(t, null, 2);
    $("tokens").hidden = false;
    $("refresh").disabled = !t.refresh_token;
  };
  // A login that did not end with tokens leaves none from an earlier one
  // on screen: the page shows the last login's result.
  const clear = () => {
    tokens = null;
    $("tokens").textContent = "";
    $("tokens").hidden = true;
    $("refresh").disabled = true;
  };

  $("login").addEventListener("click", async () => {
    $("login").disabled = true;
    let cancelled = false, popup = null, wake = () => {};
    cancel = () => { cancelled = true; wake(); if (popup) popup.close(); };
    $("cancel").hidden = false;
    const sleep = (ms) => new Promise((r) => { wake = r; setTimeout(r, ms); });
    try {
      status("Asking handoff for a login URL…");
      const res = await fetch("authorize", { method: "POST" });
      if (!res.ok) throw new Error("authorize answered " + res.status);
      const { url, readKey } = await res.json();
      if (!cancelled) {
        popup = window.open(url, "handoff-login", "width=520,height=680");
        status("Waiting for the login window: sign in there and click Allow (or Cancel here).");
      }
      for (;;) {
        if (cancelled) { clear(); status("Login cancelled: stopped waiting for it."); break; }
        await sleep(1000);
        if (cancelled) continue;
        const poll = await fetch("poll?readKey=" + encodeURIComponent(readKey), { method: "POST" });
        if (poll.status === 404) continue;
        if (poll.status === 200) { show(await poll.json()); status("Logged in: the tokens below came through handoff."); break; }
        if (poll.status === 429) { await sleep(1000 * (Number(poll.headers.get("Retry-After")) || 1)); continue; }
        const body = await poll.json().catch(() => ({}));
        clear();
        status(body.error === "access_denied" ? "Login cancelled at the provider."
          : "Login failed: " + (body.error || poll.status) + (body.error_description ? " — " + body.error_description : ""));
        break;
      }
    } catch (e) {
      clear();
      status("Error: " + e.message);
    } finally {
      cancel = null;
      $("cancel").hidden = true;
      $("login").disabled = false;
    }
  });

  $("cancel").addEventListener("click", () => { if (cancel) cancel(); });

  $("refresh").addEventListener("click", async () => {
    if (!tokens || !tokens.refresh_token) return;
    const res = await fetch("refresh", { method: "POST", body: new URLSearchParams({ refresh_token: tokens.refresh_token }) });
    const body = await res.json();
    if (res.ok) { show(body); status("Refreshed: new access token below."); }
    else status("Refresh failed: " + (body.error || res.status));
  });
})();
