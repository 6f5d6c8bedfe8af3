// A real OAuth2 token endpoint for wagw's webhook tests: oauth2-mock-server on 127.0.0.1, on a
// free port printed as "oauth listening on PORT". The first argument sets expires_in, so tests
// can make every token due for renewal.
import { OAuth2Server } from 'oauth2-mock-server';

const expiresIn = Number(process.argv[2] ?? 3600);
const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
server.service.on('beforeResponse', (response, req) => {
  if (req.path === '/token' && response.body && typeof response.body === 'object') {
    response.body.expires_in = expiresIn;
  }
});
await server.start(0, '127.0.0.1');
console.log(`oauth listening on ${server.address().port}`);
process.on('SIGTERM', async () => {
  await server.stop();
  process.exit(0);
});
