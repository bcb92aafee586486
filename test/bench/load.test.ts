/**
 * The serve benchmark's reusable parts (bench/serve.ts): the pass-through proxy that is its
 * floor (bench/passthrough-proxy.ts) forwards requests and answers unchanged, and the load
 * helpers (bench/internal/load.ts) count, bound and time what they send. No timing is asserted:
 * benchmarks are not timed in tests.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { Agent, createServer, request, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { client, closedLoop, openLoop, percentile, Stage, STAGE_COUNT } from "../../bench/internal/load.ts"
import { pinnedNode } from "../support/runProcess.ts"

const proxyScript = fileURLToPath(new URL("../../bench/passthrough-proxy.ts", import.meta.url))

const startProxy = async (upstream: string): Promise<{ child: ChildProcess; url: string }> => {
  const child = spawn(pinnedNode, [proxyScript, "--upstream", upstream], { stdio: ["ignore", "pipe", "pipe"] })
  const port = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once("line", resolve))
  return { child, url: `http://127.0.0.1:${port.trim()}` }
}

const readBody = (message: NodeJS.ReadableStream): Promise<string> =>
  new Promise((resolve) => {
    let text = ""
    message.on("data", (chunk) => (text += String(chunk)))
    message.on("end", () => resolve(text))
  })

// An upstream that echoes what it received: method, path, the headers that matter, the body.
let upstream: Server
let upstreamUrl: string
let proxy: { child: ChildProcess; url: string }

beforeAll(async () => {
  upstream = createServer(async (incoming, outgoing) => {
    const body = await readBody(incoming)
    const reply = JSON.stringify({
      method: incoming.method,
      path: incoming.url,
      contentType: incoming.headers["content-type"] ?? null,
      authorization: incoming.headers.authorization ?? null,
      chunked: incoming.headers["transfer-encoding"] === "chunked",
      body
    })
    outgoing.writeHead(incoming.url === "/missing" ? 404 : 200, { "content-type": "application/json", "x-request-id": "req_upstream" })
    outgoing.end(reply)
  })
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve))
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
  proxy = await startProxy(upstreamUrl)
}, 60_000)

afterAll(async () => {
  proxy.child.kill("SIGTERM")
  await new Promise<void>((resolve) => upstream.close(() => resolve()))
})

describe("bench/passthrough-proxy.ts (the floor)", () => {
  it("forwards method, path, query, headers and body, and returns the upstream's status, headers and body", async () => {
    const answer = await fetch(`${proxy.url}/v1/chat/completions?x=1`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer test" },
      body: "{\"model\":\"m\"}"
    })
    expect(answer.status).toBe(200)
    expect(answer.headers.get("x-request-id")).toBe("req_upstream")
    expect(await answer.json()).toEqual({
      method: "POST",
      path: "/v1/chat/completions?x=1",
      contentType: "application/json",
      authorization: "Bearer test",
      chunked: false,
      body: "{\"model\":\"m\"}"
    })
    const missing = await fetch(`${proxy.url}/missing`)
    expect(missing.status).toBe(404)
  })

  it("streams a chunked request body through", async () => {
    const url = new URL(proxy.url)
    const echoed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const sent = request({ host: url.hostname, port: url.port, path: "/stream", method: "POST" }, async (answer) =>
        resolve({ status: answer.statusCode ?? 0, body: await readBody(answer) }))
      sent.on("error", reject)
      sent.write("first,")
      setImmediate(() => sent.end("second"))
    })
    expect(echoed.status).toBe(200)
    expect(JSON.parse(echoed.body)).toMatchObject({ path: "/stream", chunked: true, body: "first,second" })
  })

  it("answers 502 when the upstream cannot be reached", async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const dead = await startProxy(`http://127.0.0.1:${port}`)
    try {
      const answer = await fetch(`${dead.url}/v1/chat/completions`, { method: "POST", body: "{}" })
      expect(answer.status).toBe(502)
    } finally {
      dead.child.kill("SIGTERM")
    }
  })

  it("without --upstream exits 2 and says what to pass", async () => {
    const child = spawn(pinnedNode, [proxyScript], { stdio: ["ignore", "pipe", "pipe"] })
    const stderr = readBody(child.stderr!)
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve))
    expect(code).toBe(2)
    expect(await stderr).toMatch(/--upstream is missing/)
  })
})

describe("bench/internal/load.ts", () => {
  it("percentile is the nearest rank of ascending values", () => {
    const values = Float64Array.from({ length: 100 }, (_, index) => index + 1)
    expect(percentile(values, 50)).toBe(50)
    expect(percentile(values, 99)).toBe(99)
    expect(percentile(values, 100)).toBe(100)
    expect(percentile([7], 99)).toBe(7)
    expect(percentile([], 50)).toBeNaN()
  })

  it("closedLoop makes every call, never more than `concurrency` at once, and counts the failures", async () => {
    let inFlight = 0
    let most = 0
    const result = await closedLoop(async (index) => {
      most = Math.max(most, ++inFlight)
      await new Promise((resolve) => setImmediate(resolve))
      inFlight--
      return index % 10 !== 0
    }, 100, 8)
    expect(result.calls).toBe(100)
    expect(result.failed).toBe(10)
    expect(most).toBe(8)
    expect(result.wallMs).toBeGreaterThan(0)
  })

  it("client posts over keep-alive and reports each status", async () => {
    const http = client({ url: `${proxy.url}/v1/chat/completions`, body: "{\"a\":1}" })
    const statuses = await Promise.all([http.post(), http.post(), http.post()])
    http.close()
    expect(statuses).toEqual([200, 200, 200])
    const failing = client({ url: `${proxy.url}/missing`, body: "{}" })
    expect(await failing.post()).toBe(404)
    failing.close()
  })

  it("openLoop sends rate x duration requests on its schedule and times each 2xx answer", async () => {
    const result = await openLoop({ url: `${proxy.url}/v1/chat/completions`, body: "{}" }, 200, 250)
    expect(result.scheduled).toBe(50)
    expect(result.sent).toBe(50)
    expect(result.ok).toBe(50)
    expect(result.latencies.length).toBe(50)
    expect([...result.latencies]).toEqual([...result.latencies].sort((a, b) => a - b))
    expect(result.latencies[0]!).toBeGreaterThan(0)
    expect(Number.isFinite(result.lagP99)).toBe(true)
    const refused = await openLoop({ url: `${proxy.url}/missing`, body: "{}" }, 100, 100)
    expect(refused.scheduled).toBe(10)
    expect(refused.sent).toBe(10)
    expect(refused.ok).toBe(0)
  })

  it("openLoop drops (counts, does not send) what is due while maxOutstanding answers are awaited", async () => {
    const slow = createServer((incoming, outgoing) => {
      incoming.resume()
      setTimeout(() => outgoing.end("{}"), 300)
    })
    await new Promise<void>((resolve) => slow.listen(0, "127.0.0.1", resolve))
    try {
      const result = await openLoop({ url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/`, body: "{}" }, 100, 100, 5)
      expect(result.scheduled).toBe(10)
      expect(result.sent).toBe(5)
      expect(result.ok).toBe(5)
    } finally {
      await new Promise<void>((resolve) => slow.close(() => resolve()))
    }
  })

  it("openLoop's stages: each request's times in order, new or kept connection, the port; a kept pool is reused by the next run", async () => {
    const ports = new Set<number>()
    const server = createServer((incoming, outgoing) => {
      ports.add(incoming.socket.remotePort ?? 0)
      incoming.resume()
      incoming.on("end", () => outgoing.end("{}"))
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const agent = new Agent({ keepAlive: true })
    try {
      const target = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, body: "{}" }
      const run = async () => {
        const stages = new Float64Array(10 * STAGE_COUNT).fill(Number.NaN)
        const result = await openLoop(target, 100, 100, 1_000, undefined, { stages, agent })
        expect(result.sent).toBe(10)
        return Array.from({ length: result.sent }, (_, index) => stages.subarray(index * STAGE_COUNT, (index + 1) * STAGE_COUNT))
      }
      const first = await run()
      for (const request of first) {
        expect(request[Stage.written]!).toBeGreaterThanOrEqual(request[Stage.scheduled]!)
        expect(request[Stage.socket]!).toBeGreaterThanOrEqual(request[Stage.written]!)
        expect(request[Stage.flushed]!).toBeGreaterThanOrEqual(request[Stage.socket]!)
        expect(request[Stage.firstByte]!).toBeGreaterThanOrEqual(request[Stage.flushed]!)
        expect(request[Stage.end]!).toBeGreaterThanOrEqual(request[Stage.firstByte]!)
        expect(ports.has(request[Stage.port]!)).toBe(true)
        if (request[Stage.reused] === 0) expect(request[Stage.connected]!).toBeGreaterThanOrEqual(request[Stage.socket]!)
        else expect(request[Stage.connected]).toBeNaN()
      }
      expect(first[0]![Stage.reused]).toBe(0)
      // The pool outlives the run (the agent is the caller's): the next run's first request reuses
      // one of its connections (later ones may need more when answers overlap).
      const second = await run()
      expect(second[0]![Stage.reused]).toBe(1)
      expect(first.map((request) => request[Stage.port])).toContain(second[0]![Stage.port])
    } finally {
      agent.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })
})
