// Starts a real facebank server for the tests: the binary named by FACEBANK_BIN
// (default target/release/facebank in the repository), on a free port, with an
// empty data directory of its own.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { FacebankClient } from "../src/index.js";

// This file runs from clients/typescript/dist/test/.
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");

const STARTUP_TIMEOUT_MS = 60_000;

export interface TestServer {
  readonly baseUrl: string;
  stop(): Promise<void>;
}

export async function startServer(): Promise<TestServer> {
  const binary = path.resolve(repoRoot, process.env.FACEBANK_BIN ?? "target/release/facebank");
  const dataDir = await mkdtemp(path.join(tmpdir(), "facebank-ts-"));
  const logPath = path.join(dataDir, "server.log");
  const log = createWriteStream(logPath);
  await new Promise((resolve) => log.once("open", resolve));
  const port = await freePort();

  const child = spawn(binary, ["serve", "--listen", `127.0.0.1:${port}`], {
    cwd: repoRoot,
    env: { ...serverEnvironment(), FACEBANK_DATA_DIR: dataDir },
    stdio: ["ignore", log, log],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  child.once("error", () => undefined); // a missing binary shows as an exit below
  // Should the test process end without stop(), the server must not outlive it.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);

  const server: TestServer = {
    baseUrl: `http://127.0.0.1:${port}`,
    async stop() {
      process.off("exit", killOnExit);
      await stopChild(child, exited);
      log.end();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  try {
    await waitUntilServing(server.baseUrl, exited);
  } catch (error) {
    const output = await readFile(logPath, "utf8").catch(() => "");
    await server.stop();
    throw new Error(`facebank (${binary}) did not start: ${String(error)}\n${output.slice(-4000)}`);
  }
  return server;
}

// There is no health stub in this client, so readiness is the first call that
// the service itself answers.
async function waitUntilServing(baseUrl: string, exited: Promise<number | null>): Promise<void> {
  let stopped = false;
  void exited.then(() => (stopped = true));
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  const client = new FacebankClient({ baseUrl, timeoutMs: 2_000 });
  try {
    for (;;) {
      try {
        await client.listPersons({ pageSize: 1 }).next();
        return;
      } catch (error) {
        if (stopped) throw new Error("the server exited");
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } finally {
    client.close();
  }
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

// The server reads every FACEBANK_* variable as configuration and refuses
// unknown ones, FACEBANK_BIN included.
function serverEnvironment(): NodeJS.ProcessEnv {
  const { FACEBANK_BIN: _binary, ...environment } = process.env;
  return environment;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => (typeof address === "object" && address ? resolve(address.port) : reject()));
    });
  });
}
