// Collections through the TypeScript client, against a real facebank server and
// real photos. Angelina is registered in `default`; every test makes
// collections of its own, with fresh names.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";

import { Code, FacebankClient, FacebankError, type Person } from "../src/index.js";
import { rejection } from "./errors.js";
import { photo } from "./photos.js";
import { startServer, type TestServer } from "./server.js";

const ANGELINA = ["faces/deepface_angelina/1.jpg", "faces/deepface_angelina/2.jpg"].map(photo);
const PROBE = photo("faces/deepface_angelina/3.jpg");

function freshName(): string {
  return `staff_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
}

describe("FacebankClient collections", () => {
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

  test("creates a collection pinned to the served model, and gets and lists it", async () => {
    const name = freshName();

    const created = await facebank.createCollection(name, { threshold: 0.75 });

    assert.equal(created.name, name);
    assert.equal(created.personCount, 0);
    assert.ok(Math.abs((created.threshold ?? NaN) - 0.75) < 1e-6, `threshold ${created.threshold}`);
    assert.ok(created.model && created.model.name !== "" && created.model.dimension > 0);
    assert.equal(created.model.metric, "cosine");
    const fetched = await facebank.getCollection(name);
    assert.deepEqual([fetched.name, fetched.threshold], [name, created.threshold]);
    const names = (await facebank.listCollections()).map((collection) => collection.name);
    assert.ok(names.includes("default") && names.includes(name), names.join(", "));
  });

  test("a collection created without a threshold has none", async () => {
    const name = freshName();
    await facebank.createCollection(name);

    assert.equal((await facebank.getCollection(name)).threshold, undefined);
  });

  test("a taken collection name already exists with reason COLLECTION_EXISTS", async () => {
    const name = freshName();
    await facebank.createCollection(name);

    const error = await rejection(facebank.createCollection(name));

    assert.equal(error.code, Code.AlreadyExists);
    assert.equal(error.reason, "COLLECTION_EXISTS");
  });

  test("a person registered into a collection is recognised there and not in default", async () => {
    const staff = freshName();
    await facebank.createCollection(staff);
    // Angelina is registered in `default`, not yet in `staff`.
    const before = await facebank.recognize(PROBE, { topK: 5, collection: staff });
    assert.equal(before.faces.length, 1);
    assert.deepEqual(before.faces[0]!.matches, []);

    const { person: member } = await facebank.register(ANGELINA, { name: "Angelina on staff" }, {
      collection: staff,
    });
    assert.ok(member);
    assert.equal(member.collection, staff);
    assert.equal(member.faceCount, 2);

    const inside = await facebank.recognize(PROBE, { topK: 5, collection: staff });
    assert.deepEqual(inside.faces[0]!.matches.map((match) => match.person?.id), [member.id]);

    const inDefault = await facebank.recognize(PROBE, { topK: 5 });
    const matched = inDefault.faces[0]!.matches.map((match) => match.person?.id);
    assert.ok(!matched.includes(member.id), matched.join(", "));
    assert.equal(matched[0], angelina.id);

    const listed: string[] = [];
    for await (const person of facebank.listPersons({ collection: staff })) listed.push(person.id);
    assert.deepEqual(listed, [member.id]);
    const listedInDefault: string[] = [];
    for await (const person of facebank.listPersons({ pageSize: 1 })) listedInDefault.push(person.id);
    assert.ok(listedInDefault.includes(angelina.id) && !listedInDefault.includes(member.id));
    assert.equal((await facebank.getCollection(staff)).personCount, 1);
  });

  test("a person given with the collection option goes into that collection", async () => {
    const staff = freshName();
    await facebank.createCollection(staff);

    const reply = await facebank.register(ANGELINA.slice(0, 1), { person: { name: "Angelina" } }, {
      collection: staff,
    });

    assert.equal(reply.person?.collection, staff);
  });

  test("verifies against a person only in their own collection", async () => {
    const staff = freshName();
    await facebank.createCollection(staff);
    const { person: member } = await facebank.register(ANGELINA, { name: "Angelina" }, { collection: staff });
    const other = photo("faces/deepface_angelina/4.jpg");

    const reply = await facebank.verify(other, { personId: member!.id }, { collection: staff });
    assert.equal(reply.samePerson, true, `similarity ${reply.similarity}`);

    const error = await rejection(facebank.verify(other, { personId: member!.id }));
    assert.equal(error.code, Code.NotFound);
    assert.equal(error.reason, "PERSON_NOT_FOUND");
  });

  test("searches in a collection use its threshold unless the call gives one", async () => {
    const name = freshName();
    await facebank.createCollection(name, { threshold: 0.9 });

    const strict = await facebank.recognize(PROBE, { collection: name });
    const loose = await facebank.recognize(PROBE, { collection: name, minSimilarity: 0.2 });

    assert.ok(Math.abs(strict.threshold - 0.9) < 1e-6, `threshold ${strict.threshold}`);
    assert.ok(Math.abs(loose.threshold - 0.2) < 1e-6, `threshold ${loose.threshold}`);
  });

  test("streamed frames are recognised in the stream's collection", async () => {
    const staff = freshName();
    await facebank.createCollection(staff);
    const { person: member } = await facebank.register(ANGELINA, { name: "Angelina" }, { collection: staff });
    const frames = [PROBE, photo("faces/deepface_angelina/4.jpg")];

    const inside: (string | undefined)[] = [];
    for await (const reply of facebank.recognizeFrames(frames, { collection: staff })) {
      inside.push(reply.faces[0]?.identity?.person?.id);
    }
    const inDefault: (string | undefined)[] = [];
    for await (const reply of facebank.recognizeFrames(frames)) {
      inDefault.push(reply.faces[0]?.identity?.person?.id);
    }

    assert.deepEqual(inside, [member!.id, member!.id]);
    assert.deepEqual(inDefault, [angelina.id, angelina.id]);
  });

  test("deleting a collection with persons needs deletePersons, and then removes them", async () => {
    const name = freshName();
    await facebank.createCollection(name);
    const { person: member } = await facebank.register(ANGELINA, { name: "Angelina" }, { collection: name });
    assert.ok(member);

    const notEmpty = await rejection(facebank.deleteCollection(name));
    assert.equal(notEmpty.code, Code.FailedPrecondition);
    assert.equal(notEmpty.reason, "COLLECTION_NOT_EMPTY");
    assert.equal((await facebank.getPerson(member.id)).id, member.id);

    assert.equal(await facebank.deleteCollection(name, { deletePersons: true }), 1);

    assert.equal((await rejection(facebank.getPerson(member.id))).reason, "PERSON_NOT_FOUND");
    assert.equal((await rejection(facebank.getCollection(name))).reason, "COLLECTION_NOT_FOUND");
    const names = (await facebank.listCollections()).map((collection) => collection.name);
    assert.ok(!names.includes(name), names.join(", "));
    const inDefault = await facebank.recognize(PROBE, { topK: 5 });
    assert.ok(!inDefault.faces[0]!.matches.some((match) => match.person?.id === member.id));
  });

  test("an empty collection is deleted without deletePersons", async () => {
    const name = freshName();
    await facebank.createCollection(name);

    assert.equal(await facebank.deleteCollection(name), 0);
    assert.equal((await rejection(facebank.getCollection(name))).code, Code.NotFound);
  });

  test("the default collection cannot be deleted", async () => {
    const error = await rejection(facebank.deleteCollection("default", { deletePersons: true }));

    assert.equal(error.code, Code.InvalidArgument);
    const names = (await facebank.listCollections()).map((collection) => collection.name);
    assert.ok(names.includes("default"));
  });

  test("an unknown collection is not found with reason COLLECTION_NOT_FOUND", async () => {
    const name = freshName();
    const calls: (() => Promise<unknown>)[] = [
      () => facebank.recognize(PROBE, { collection: name }),
      () => facebank.register(ANGELINA.slice(0, 1), { name: "Nobody" }, { collection: name }),
      () => facebank.listPersons({ collection: name }).next(),
      () => facebank.getCollection(name),
      () => facebank.deleteCollection(name),
    ];

    for (const [index, send] of calls.entries()) {
      const error = await rejection(send());
      assert.equal(error.code, Code.NotFound, `call ${index}`);
      assert.equal(error.reason, "COLLECTION_NOT_FOUND", `call ${index}`);
    }
  });

  test("a collection is only for a new person", async () => {
    await assert.rejects(
      facebank.register(ANGELINA.slice(0, 1), { personId: angelina.id }, { collection: "staff" }),
      (error: unknown) => !(error instanceof FacebankError) && error instanceof Error,
    );
    await assert.rejects(
      facebank.register(
        ANGELINA.slice(0, 1),
        { person: { name: "A", collection: "staff" } },
        { collection: "other" },
      ),
      (error: unknown) => !(error instanceof FacebankError) && error instanceof Error,
    );
  });
});
