// node-oidc-provider as the token endpoint's peer in `make bench` (bench/peers.py starts it).
//
//   node server.mjs CONFIG.json
//
// CONFIG: {"port", "workers", "secrets": "plain" | "argon2id", "clients": [{"client_id",
// "client_secret"}]}, where an argon2id client_secret is the hash (made by the service's own
// hasher, so the parameters are ours). The client credentials grant only, client_secret_basic,
// JWT access tokens signed with one Ed25519 key (EdDSA) through the resource indicators feature,
// one worker per core through `cluster`. GET /v1/whoami on the same app verifies such a JWT with
// `jose` against that key set, held locally.
import cluster from 'node:cluster';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';

import * as argon2 from 'argon2';
import { createLocalJWKSet, jwtVerify } from 'jose';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;
const audience = `${issuer}/v1`;

if (cluster.isPrimary) {
  // One key for every worker, as a deployment shares its signing key.
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench', alg: 'EdDSA', use: 'sig' };
  for (let i = 0; i < config.workers; i += 1) {
    cluster.fork({ BENCH_SIGNING_JWK: JSON.stringify(jwk) });
  }
  let listening = 0;
  cluster.on('listening', () => {
    listening += 1;
    if (listening === config.workers) console.log('ready'); // bench/peers.py waits for this line
  });
  cluster.on('exit', (worker, code) => {
    // A worker gone means a broken measurement: stop, the benchmark sees the port close.
    console.error(`worker ${worker.process.pid} exited (${code})`);
    process.exit(1);
  });
} else {
  serve(JSON.parse(process.env.BENCH_SIGNING_JWK));
}

function serve(jwk) {
  const clients = config.clients.map(({ client_id: clientId, client_secret: secret }) => ({
    client_id: clientId,
    client_secret: secret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
  }));

  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [jwk] },
    clientDefaults: { id_token_signed_response_alg: 'EdDSA' }, // the only key is Ed25519
    ttl: { ClientCredentials: 3600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'api',
          audience,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'EdDSA' } },
        }),
      },
    },
  });
  if (config.secrets === 'argon2id') {
    // Where the provider's author points for one-way hashed secrets: the Client model's comparison.
    provider.Client.prototype.compareClientSecret = function compareClientSecret(actual) {
      return argon2.verify(this.clientSecret, actual);
    };
  }

  const { d, ...publicJwk } = jwk;
  const keys = createLocalJWKSet({ keys: [publicJwk] });
  provider.use(async (ctx, next) => {
    if (ctx.method !== 'GET' || ctx.path !== '/v1/whoami') {
      await next();
      return;
    }
    const [scheme, token] = (ctx.get('authorization') || '').split(' ');
    try {
      if (scheme !== 'Bearer' || !token) throw new Error('no bearer token');
      const { payload } = await jwtVerify(token, keys, { issuer, audience, algorithms: ['EdDSA'], typ: 'at+jwt' });
      ctx.body = { type: 'api_client', client_id: payload.client_id, scope: payload.scope ?? null };
    } catch {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer error="invalid_token"');
      ctx.body = { error: 'invalid_token' };
    }
  });

  provider.listen(config.port, '127.0.0.1');
}
