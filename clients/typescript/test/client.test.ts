// The TypeScript client against a real facebank server and real photos.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";

import { Code, FacebankClient, FacebankError, type Person } from "../src/index.js";
import { rejection } from "./errors.js";
import { faceless, photo } from "./photos.js";
import { startServer, type TestServer } from "./server.js";

const ANGELINA = ["faces/deepface_angelina/1.jpg", "faces/deepface_angelina/2.jpg"].map(photo);

describe("FacebankClient", () => {
  let server: TestServer;
  let facebank: FacebankClient;
  let angelina: Person;

  before(async () => {
    server = await startServer();
    facebank = new FacebankClient({ baseUrl: server.baseUrl, timeoutMs: 60_000 });
    const reply = await facebank.register(ANGELINA, { name: "Angelina" });
    assert.ok(reply.person);
    angelina = reply.person;
  });

  after(async () => {
    facebank?.close();
    await server?.stop();
  });

  test("registers a new person with one face from each of two photos", () => {
    assert.equal(angelina.name, "Angelina");
    assert.equal(angelina.faceCount, 2);
    assert.notEqual(angelina.id, "");
  });

  test("adds a photo to an existing person by id", async () => {
    const jack = await facebank.register([photo("faces/deepface_jack/1.jpg")], { name: "Jack" });
    const reply = await facebank.register([photo("faces/deepface_jack/2.jpg")], {
      personId: jack.person!.id,
    });

    assert.equal(reply.person?.id, jack.person?.id);
    assert.equal(reply.person?.faceCount, 2);
    assert.deepEqual(reply.rejected, []);
  });

  test("recognises another photo of a registered person as that person", async () => {
    const reply = await facebank.recognize(photo("faces/deepface_angelina/3.jpg"), { topK: 3 });

    assert.equal(reply.faces.length, 1);
    const best = reply.faces[0]!.matches[0];
    assert.equal(best?.person?.id, angelina.id);
    assert.ok(best.similarity >= reply.threshold, `${best.similarity} < ${reply.threshold}`);
  });

  test("verifies two photos of the same person as the same person", async () => {
    const reply = await facebank.verify(photo("faces/deepface_angelina/3.jpg"), {
      otherPhoto: photo("faces/deepface_angelina/4.jpg"),
    });

    assert.equal(reply.samePerson, true, `similarity ${reply.similarity}`);
  });

  test("verifies photos of two different persons as different", async () => {
    const reply = await facebank.verify(photo("faces/deepface_angelina/4.jpg"), {
      otherPhoto: photo("faces/deepface_jack/1.jpg"),
    });

    assert.equal(reply.samePerson, false, `similarity ${reply.similarity}`);
  });

  test("verifies a photo against a registered person", async () => {
    const reply = await facebank.verify(photo("faces/deepface_angelina/4.jpg"), {
      personId: angelina.id,
    });

    assert.equal(reply.samePerson, true, `similarity ${reply.similarity}`);
    assert.notEqual(reply.matchedFaceId, "");
  });

  test("detects the six faces of a group photo", async () => {
    const reply = await facebank.detect(photo("scenes/insightface_t1.jpg"));

    assert.equal(reply.faces.length, 6);
    assert.ok(reply.faces.every((face) => face.landmarks.length === 5));
  });

  test("lists the registered persons", async () => {
    const ids: string[] = [];
    for await (const person of facebank.listPersons({ pageSize: 1 })) ids.push(person.id);

    assert.ok(ids.includes(angelina.id), `${angelina.id} not in ${ids.join(", ")}`);
  });

  test("streams frames and gets one reply per frame, in order, with the frame ids", async () => {
    const frames = [
      "faces/deepface_angelina/3.jpg",
      "faces/deepface_jack/3.jpg",
      "faces/deepface_angelina/4.jpg",
    ].map((name, index) => ({
      frameId: `frame-${index}`,
      timestampMs: BigInt(1000 * index),
      image: { case: "encoded" as const, value: readFileSync(photo(name)) },
    }));

    const replies = [];
    for await (const reply of facebank.recognizeFrames(frames)) replies.push(reply);

    assert.deepEqual(
      replies.map((r) => [r.frameId, r.frameIndex, r.timestampMs]),
      [
        ["frame-0", 0n, 0n],
        ["frame-1", 1n, 1000n],
        ["frame-2", 2n, 2000n],
      ],
    );
    for (const index of [0, 2]) {
      assert.equal(replies[index]!.faces[0]?.identity?.person?.id, angelina.id, `frame ${index}`);
    }
  });

  test("a frame that cannot be read ends the stream with its own error", async () => {
    const frames = [photo("faces/deepface_angelina/3.jpg"), photo("faces/no_such_person/1.jpg")];

    await assert.rejects(async () => {
      for await (const reply of facebank.recognizeFrames(frames)) void reply;
    }, (error: NodeJS.ErrnoException) => !(error instanceof FacebankError) && error.code === "ENOENT");
  });

  test("a photo with no face is refused as an invalid argument with reason NO_FACE", async () => {
    const error = await rejection(facebank.register([faceless()], { name: "Nobody" }));

    assert.equal(error.code, Code.InvalidArgument);
    assert.equal(error.reason, "NO_FACE");
    assert.equal(error.domain, "facebank.v1");
  });

  test("verifying a photo with no face fails with reason NO_FACE", async () => {
    const error = await rejection(
      facebank.verify(faceless(), { otherPhoto: photo("faces/deepface_angelina/1.jpg") }),
    );

    assert.equal(error.code, Code.InvalidArgument);
    assert.equal(error.reason, "NO_FACE");
  });

  test("an unknown person id is not found with reason PERSON_NOT_FOUND", async () => {
    const error = await rejection(facebank.getPerson(randomUUID()));

    assert.equal(error.code, Code.NotFound);
    assert.equal(error.reason, "PERSON_NOT_FOUND");
    assert.match(error.serverMessage, /does not exist/);
  });
});
