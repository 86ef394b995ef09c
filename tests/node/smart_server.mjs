// A real OAuth 2.0 authorization server for the SMART Backend Services tests: panva's oidc-provider with the
// client_credentials grant and private_key_jwt client authentication (RS384 / ES384), run strict: a client
// assertion without a `kid` header is refused with invalid_client, as the SMART specification requires
// ("kid: the identifier of the key-pair used to sign this JWT").
// Environment: SMART_CLIENTS = JSON [{client_id, jwks: {keys: [...]}, alg, scope}], SMART_SCOPES = allowed scopes
// (space-separated), SMART_TTL_S = access token lifetime. Usage: node smart_server.mjs [PORT]; prints
// "LISTENING <port>". Token endpoint: http://127.0.0.1:<port>/token
import http from 'node:http';
import Provider from 'oidc-provider';

const clients = JSON.parse(process.env.SMART_CLIENTS ?? '[]');
const scopes = (process.env.SMART_SCOPES ?? '').split(' ').filter(Boolean);
const ttl = Number(process.env.SMART_TTL_S ?? 300);

function kidOf(assertion) {
  try {
    const header = JSON.parse(Buffer.from(String(assertion).split('.')[0], 'base64url').toString('utf8'));
    return header.kid;
  } catch {
    return undefined;
  }
}

const server = http.createServer();
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const { port } = server.address();
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: clients.map((c) => ({
      client_id: c.client_id,
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: c.alg,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      jwks: c.jwks,
      scope: c.scope,
    })),
    clientAuthMethods: ['private_key_jwt'],
    enabledJWA: { clientAuthSigningAlgValues: ['RS384', 'ES384'] },
    features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
    scopes,
    ttl: { ClientCredentials: ttl },
  });
  // strict: the token is never handed out to an assertion without kid
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/token' && ctx.method === 'POST' && ctx.status === 200) {
      const assertion = ctx.oidc?.params?.client_assertion ?? ctx.oidc?.body?.client_assertion;
      if (!kidOf(assertion)) {
        ctx.status = 401;
        ctx.body = { error: 'invalid_client', error_description: 'client assertion without kid (SMART Backend Services requires it)' };
      }
    }
  });
  server.on('request', provider.callback());
  console.log(`LISTENING ${port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
