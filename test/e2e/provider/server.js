// A real OpenID Connect authorization server for handoff's end-to-end tests:
// oidc-provider (panva) with its development login and consent pages, on loopback.
//
//   PORT=9000 REDIRECT_URIS=http://localhost:8787/redirect node server.js
//   node server.js 9000          (the port may also be the first argument)
//
// Environment:
//   PORT            listen port on 127.0.0.1 (or argv[2]); 0 picks a free one
//   REDIRECT_URIS   comma-separated redirect URIs registered for both clients
//                   (default http://localhost:8787/redirect)
//   BASIC_CLIENT_ID / BASIC_CLIENT_SECRET   client authenticating with client_secret_basic
//   POST_CLIENT_ID  / POST_CLIENT_SECRET    client authenticating with client_secret_post
//   ACCESS_TOKEN_TTL  seconds (default 3600)
//
// Once listening it prints one line on stdout:
//   READY {"issuer":"http://localhost:PORT","port":PORT}
// The issuer is http://localhost:PORT; it listens on 127.0.0.1 (and [::1] when present).
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`bad port ${process.argv[2] ?? process.env.PORT}`);
  process.exit(2);
}
const redirectUris = (process.env.REDIRECT_URIS || 'http://localhost:8787/redirect')
  .split(',').map((s) => s.trim()).filter(Boolean);

const clients = [
  {
    client_id: process.env.BASIC_CLIENT_ID || 'handoff-basic',
    client_secret: process.env.BASIC_CLIENT_SECRET || 'basic-secret-with+plus/slash=and:colon',
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    client_id: process.env.POST_CLIENT_ID || 'handoff-post',
    client_secret: process.env.POST_CLIENT_SECRET || 'post-secret-with+plus/slash=and:colon',
    token_endpoint_auth_method: 'client_secret_post',
  },
].map((c) => ({
  ...c,
  client_name: `handoff e2e (${c.token_endpoint_auth_method})`,
  redirect_uris: redirectUris,
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  scope: 'openid offline_access profile email',
}));

// Every login name is an account; its claims are derived from the name.
async function findAccount(ctx, sub) {
  return {
    accountId: sub,
    async claims(use, scope) {
      return {
        sub,
        name: `Test User ${sub}`,
        preferred_username: sub,
        email: `${sub}@example.test`,
        email_verified: true,
      };
    },
  };
}

const issuer = (p) => `http://localhost:${p}`;

const configuration = {
  clients,
  findAccount,
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  pkce: {
    // PKCE is required of every client, confidential ones included; S256 only.
    required: () => true,
  },
  // Refresh tokens whenever offline_access was granted (oidc-provider only keeps
  // offline_access when the authorization request carries prompt=consent).
  issueRefreshToken: async (ctx, client, code) => client.grantTypeAllowed('refresh_token')
    && code.scopes.has('offline_access'),
  rotateRefreshToken: true,
  // The test page calls userinfo from another origin.
  clientBasedCORS: () => true,
  cookies: {
    keys: ['handoff-e2e-cookie-key-1', 'handoff-e2e-cookie-key-2'],
  },
  features: {
    devInteractions: { enabled: true },
    userinfo: { enabled: true },
    revocation: { enabled: true },
  },
  ttl: {
    AccessToken: Number(process.env.ACCESS_TOKEN_TTL || 3600),
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: 24 * 3600,
    Grant: 24 * 3600,
    Interaction: 600,
    Session: 24 * 3600,
  },
  renderError: async (ctx, out, error) => {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><title>oops</title><h1>oops! something went wrong</h1><pre>${
      Object.entries(out).map(([k, v]) => `${k}: ${String(v).replace(/[<>&]/g, '')}`).join('\n')}</pre>`;
  },
};

// oidc-provider accepts client_secret_basic and client_secret_post interchangeably
// for a client registered with either. The tests must prove that handoff uses the
// method it was told to, so the token endpoint is fronted by a strict check: the
// "basic" client must send HTTP Basic and no secret in the body, the "post" client
// the secret in the body and no Authorization header. Anything else is 401
// invalid_client, as a strict provider answers. Every token request is recorded
// (without secrets, codes or tokens) for the tests at GET /_test/token-requests.
const tokenRequests = [];
const authMethodOf = new Map(clients.map((c) => [c.client_id, c.token_endpoint_auth_method]));
const BODY_LIMIT = 64 * 1024;

function strictTokenAuth(req, res, next) {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size <= BODY_LIMIT) chunks.push(c);
  });
  req.on('end', () => {
    const raw = Buffer.concat(chunks).toString('utf8');
    const ctype = String(req.headers['content-type'] || '');
    const form = ctype.startsWith('application/x-www-form-urlencoded') ? new URLSearchParams(raw) : new URLSearchParams();
    const authz = String(req.headers.authorization || '');
    let auth = 'none';
    let clientId = form.get('client_id') || '';
    if (/^basic /i.test(authz)) {
      auth = 'basic';
      try {
        const dec = Buffer.from(authz.slice(6).trim(), 'base64').toString('utf8');
        const i = dec.indexOf(':');
        const idPart = decodeURIComponent((i >= 0 ? dec.slice(0, i) : dec).replace(/\+/g, '%20'));
        if (idPart) clientId = idPart;
      } catch { /* oidc-provider reports malformed headers itself */ }
    } else if (form.has('client_secret')) {
      auth = 'post';
    }
    const record = {
      time: new Date().toISOString(),
      method: req.method,
      query: req.url.includes('?'),
      content_type: ctype,
      accept: String(req.headers.accept || ''),
      grant_type: form.get('grant_type') || '',
      client_id: clientId,
      auth,
      secret_in_body: form.has('client_secret'),
      has_code: form.has('code'),
      has_code_verifier: form.has('code_verifier'),
      has_refresh_token: form.has('refresh_token'),
      redirect_uri: form.get('redirect_uri') || '',
      status: 0,
      rejected: '',
    };
    tokenRequests.push(record);
    if (tokenRequests.length > 1000) tokenRequests.shift();
    const registered = authMethodOf.get(clientId);
    let problem = '';
    if (registered === 'client_secret_basic' && (auth !== 'basic' || form.has('client_secret'))) {
      problem = 'this client must authenticate with client_secret_basic only';
    } else if (registered === 'client_secret_post' && (auth !== 'post' || authz)) {
      problem = 'this client must authenticate with client_secret_post only';
    }
    console.error(`[provider] token request grant_type=${record.grant_type} client=${clientId} auth=${auth}${problem ? ` REJECTED: ${problem}` : ''}`);
    if (problem) {
      record.status = 401;
      record.rejected = problem;
      const headers = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };
      if (auth === 'basic' || registered === 'client_secret_basic') headers['www-authenticate'] = 'Basic realm="handoff-e2e"';
      res.writeHead(401, headers);
      res.end(JSON.stringify({ error: 'invalid_client', error_description: `client authentication failed: ${problem}` }));
      return;
    }
    res.on('finish', () => { record.status = res.statusCode; });
    // The stream is consumed: oidc-provider then reads the body from req.body.
    req.body = raw;
    next();
  });
}

// Bind first so that PORT=0 works, then build the provider with the real issuer.
const server = createServer();
server.listen(port, '127.0.0.1', () => {
  const actual = server.address().port;
  const provider = new Provider(issuer(actual), configuration);
  provider.proxy = false;

  const log = (event) => (ctx, err) => {
    const e = err ?? ctx;
    console.error(`[provider] ${event}: ${e?.name ?? ''} ${e?.message ?? ''} ${e?.error_description ?? ''}`);
  };
  for (const ev of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error',
    'introspection.error', 'revocation.error', 'interaction.error']) {
    provider.on(ev, log(ev));
  }
  provider.on('grant.success', (ctx) => {
    console.error(`[provider] grant.success ${ctx.oidc.params?.grant_type ?? ''} client=${ctx.oidc.client?.clientId ?? ''}`);
  });

  const callback = provider.callback();
  const handle = (req, res) => {
    const path = req.url.split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    if (path === '/_test/token-requests') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(tokenRequests));
      return;
    }
    if (req.method === 'POST' && path === '/token') {
      strictTokenAuth(req, res, () => callback(req, res));
      return;
    }
    callback(req, res);
  };
  server.on('request', handle);
  // localhost may resolve to ::1 first: answer there too when the host has IPv6.
  const server6 = createServer(handle);
  server6.on('error', (err) => console.error(`[provider] not listening on [::1]:${actual}: ${err.code}`));
  server6.listen(actual, '::1', () => {});
  servers.push(server6);
  console.log(`READY ${JSON.stringify({ issuer: issuer(actual), port: actual })}`);
});

const servers = [server];
const stop = () => {
  for (const s of servers) s.close();
  setTimeout(() => process.exit(0), 200).unref();
  server.close(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
