/**
 * The floor for `startup.ts`: the smallest Deno program that answers `GET /readyz` with 200 (no
 * imports, no KV). `deno run --allow-net=127.0.0.1:PORT bench/_hello_server.ts PORT`
 */
Deno.serve(
  { hostname: "127.0.0.1", port: Number(Deno.args[0]), onListen: () => {} },
  () => new Response('{"ready":true}', { headers: { "content-type": "application/json" } }),
);
