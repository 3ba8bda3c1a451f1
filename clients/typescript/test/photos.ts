import path from "node:path";

import { repoRoot } from "./server.js";

/** A photo of the repository's test data (tests/data/PROVENANCE.md). */
export function photo(name: string): string {
  return path.join(repoRoot, "tests/data", name);
}

/**
 * A 640x480 picture with no face in it: a smooth colour gradient, the same one
 * the server's own tests use for NO_FACE (tests/data holds no faceless photo).
 * Written as an uncompressed 24-bit BMP, which needs no encoder library.
 */
export function faceless(): Uint8Array {
  const width = 640;
  const height = 480;
  const rowBytes = width * 3; // already a multiple of 4: no row padding
  const bmp = Buffer.alloc(54 + rowBytes * height);

  bmp.write("BM", 0, "ascii");
  bmp.writeUInt32LE(bmp.length, 2);
  bmp.writeUInt32LE(54, 10); // pixel data offset
  bmp.writeUInt32LE(40, 14); // BITMAPINFOHEADER size
  bmp.writeInt32LE(width, 18);
  bmp.writeInt32LE(height, 22); // positive: rows stored bottom-up
  bmp.writeUInt16LE(1, 26); // planes
  bmp.writeUInt16LE(24, 28); // bits per pixel
  bmp.writeUInt32LE(rowBytes * height, 34);

  for (let y = 0; y < height; y++) {
    const row = 54 + (height - 1 - y) * rowBytes;
    for (let x = 0; x < width; x++) {
      // Blue, green, red.
      bmp.writeUInt8(128, row + x * 3);
      bmp.writeUInt8(Math.floor(y / 2), row + x * 3 + 1);
      bmp.writeUInt8(Math.floor(x / 3), row + x * 3 + 2);
    }
  }
  return bmp;
}
