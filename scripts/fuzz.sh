#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (ASan + UBSan) and runs each for
# a bounded time (FUZZ_SECONDS, default 60). Crashes land in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECONDS:-60}"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DVECTRON_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$(nproc)"
corpus=build-fuzz/corpus-index
mkdir -p "$corpus"
./build-fuzz/fuzz/fuzz_gen_seeds "$corpus"
./build-fuzz/fuzz/fuzz_index_load -max_total_time="$secs" -max_len=65536 \
    -artifact_prefix=build-fuzz/ "$corpus"

# Gateway JSON decoders: byte 0 picks the decoder, byte 1 the dimension
# (see fuzz/fuzz_qdrant_json.c); a few seeds per decoder.
corpus=build-fuzz/corpus-qdrant-json
mkdir -p "$corpus"
seed() { printf "$2" > "$corpus/$1"; printf '%s' "$3" >> "$corpus/$1"; }
seed create '\x00\x00' '{"vectors":{"size":4,"distance":"Cosine"},"hnsw_config":{"m":16,"ef_construct":100},"quantization_config":{"scalar":{"type":"int8","quantile":0.99}},"shard_number":2,"consistency":"bounded"}'
seed upsert '\x01\x02' '{"points":[{"id":1,"vector":[1,2,3],"payload":{"a":[1,{"b":"c"}],"n":18446744073709551615}},{"id":"550e8400-e29b-41d4-a716-446655440000","vector":[0.5,-1,1e3]}]}'
seed batch '\x01\x01' '{"batch":{"ids":[18446744073709551615,2],"vectors":[[1,2],[3,4]],"payloads":[null,{"k":1}]}}'
seed query '\x02\x02' '{"query":[1,2,3],"filter":{"must":[{"key":"a.b","match":{"any":["x","y"]}},{"key":"n","range":{"gt":1}}],"should":[{"has_id":[1,"550e8400-e29b-41d4-a716-446655440000"]}],"must_not":[{"is_empty":{"key":"e"}}]},"params":{"hnsw_ef":64,"quantization":{"rescore":true}},"limit":5,"with_payload":{"include":["a"]}}'
seed search '\x03\x02' '{"vector":[1,2,3],"top":3,"with_vectors":true,"score_threshold":0.5}'
seed qrerank '\x02\x01' '{"query":[1,0],"limit":2,"offset":1,"rerank":{"strategy":"boost","candidates":9,"timeout_ms":50,"service":false,"boosts":{"fields":{"a":0.5,"e.f":-1},"recency":{"field":"ts","half_life_s":60,"weight":2,"now":"2024-02-29T12:00:00.5+01:00"}}}}'
seed qrerank2 '\x02\x01' '{"query":{"nearest":[1,0]},"rerank":{"strategy":"rrf","rrf_k":10,"queries":[[0,1],[1,1]]}}'
seed srerank '\x03\x01' '{"vector":[1,0],"limit":3,"rerank":{"strategy":"mmr","lambda":0.25}}'
seed qbatch '\x04\x00' '{"searches":[{"query":5},{"query":{"nearest":[1]}}]}'
seed sbatch '\x05\x00' '{"searches":[{"vector":[1],"limit":2,"filter":{"should":{"is_null":{"key":"a"}}}}]}'
seed retrieve '\x06\x00' '{"ids":[1,2],"with_payload":["a"],"with_vector":true}'
seed delete '\x07\x00' '{"filter":{"must":{"nested":{"key":"arr","filter":{"must":[{"key":"k","match":{"value":1}}]}}}}}'
seed setpl '\x08\x00' '{"payload":{"a":1},"points":[1],"key":"x"}'
seed delpl '\x09\x00' '{"keys":["a"],"filter":{}}'
seed scroll '\x0a\x00' '{"filter":{"min_should":{"conditions":[{"is_null":{"key":"a"}}],"min_count":1}},"offset":"550e8400-e29b-41d4-a716-446655440000","limit":3}'
seed index '\x0b\x00' '{"field_name":"a","field_schema":{"type":"keyword"}}'
seed bulk '\x0c\x05VXBULK\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x3f\x00\x00\x00\xc0\x07\x00\x00\x00' '{"a":1}0000'
seed filter '\x0d\x00' '{"must":[{"key":"c","match":{"except":[1,2]}},{"key":"t","match":{"text":"ab"}},{"key":"v","values_count":{"lt":3}}]}'
seed json '\x0e\x00' '{"a":[1,-2.5e3,18446744073709551615,"s\u00e9"],"b":{"c":null}}'
seed text '\x0f\x00' '18446744073709551615'
./build-fuzz/fuzz/fuzz_qdrant_json -max_total_time="$secs" -max_len=65536 \
    -artifact_prefix=build-fuzz/ "$corpus"

# The rerank service's contract: byte 0 even = request, odd = response
# (see fuzz/fuzz_rerank_json.c).
corpus=build-fuzz/corpus-rerank
mkdir -p "$corpus"
printf '\x00%s' '{"strategy":"mmr","metric":"cosine","query":[1,0],"limit":2,"lambda":0.3,"candidates":[{"id":1,"score":0.5,"vector":[1,0]},{"id":"550e8400-e29b-41d4-a716-446655440000","score":0.2,"vector":[0.5,0.5]}]}' > "$corpus/mmr"
printf '\x00%s' '{"strategy":"boost","metric":"l2","limit":2,"candidates":[{"id":1,"score":1,"payload":{"b":{"c":2},"t":"2024-01-01T00:00:00Z"}}],"boosts":{"fields":{"b.c":2},"recency":{"field":"t","half_life_s":10,"now":1e9}}}' > "$corpus/boost"
printf '\x00%s' '{"strategy":"rrf","limit":3,"rrf_k":60,"lists":[[1,2,3],[3,18446744073709551615]]}' > "$corpus/rrf"
printf '\x01%s' '{"ranked":[{"id":1,"score":0.5},{"id":"550e8400-e29b-41d4-a716-446655440000","score":-1}]}' > "$corpus/resp"
./build-fuzz/fuzz/fuzz_rerank_json -max_total_time="$secs" -max_len=65536 \
    -artifact_prefix=build-fuzz/ "$corpus"

# Shard commands: seeds are real commands built by the unit-test helpers'
# format (a header-only command and a one-upsert command).
corpus=build-fuzz/corpus-shard
mkdir -p "$corpus"
printf 'VXCM\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' > "$corpus/empty"
printf 'VXCM\x01\x00\x00\x00\x01\x00\x00\x00\x01\x09\x00\x00\x00\x00\x00\x00\x00\x00\x07\x04\x00\x00\x00\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\x80\x40\x02\x00\x00\x00{}\x00\x00\x00\x00' > "$corpus/upsert"
rm -rf build-fuzz/shard-data && mkdir -p build-fuzz/shard-data
VECTRON_FUZZ_DIR=build-fuzz/shard-data \
    ./build-fuzz/fuzz/fuzz_shard_cmd -max_total_time="$secs" -max_len=4096 \
    -artifact_prefix=build-fuzz/ "$corpus"
rm -rf build-fuzz/shard-data

# Router (method + path against the real route table) and the PD catalog
# (commands, snapshots): byte 0 even = router, odd = catalog.
corpus=build-fuzz/corpus-request
mkdir -p "$corpus"
printf '\x00PUT /collections/a%%20b/points' > "$corpus/route1"
printf '\x00GET /collections/x/points/550e8400-e29b-41d4-a716-446655440000' > "$corpus/route2"
printf '\x00POST /collections/%%00/points/query' > "$corpus/route3"
printf '\x01VXPC\x01\x01\x00\x00\x03\x00abc' > "$corpus/pd1"
./build-fuzz/fuzz/fuzz_request -max_total_time="$secs" -max_len=4096 \
    -artifact_prefix=build-fuzz/ "$corpus"

# RPC frames: byte 0 is the chunk size, then the preamble and one request
# frame (method 1, id 1, payload "abc").
corpus=build-fuzz/corpus-rpc
mkdir -p "$corpus"
printf '\x05VXRP\x01\x00\x00\x00\x03\x00\x00\x00\x01\x00\x01\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00abc' > "$corpus/one"
./build-fuzz/fuzz/fuzz_rpc_frame -max_total_time="$secs" -max_len=16384 \
# Credentials (gateway/auth.h): byte 0 = 0 a bearer token for the JWT
# verifier, 1 a claims object (signed first, so the claims parser runs),
# 2 a credential for the authenticator (see fuzz/fuzz_auth.c).
corpus=build-fuzz/corpus-auth
mkdir -p "$corpus"
printf '\x00eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjk5OTk5OTk5OTksImFjY2VzcyI6InIifQ.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmE' > "$corpus/jwt"
printf '\x01{"exp":2000,"sub":"app","access":[{"collection":"a","access":"rw"},{"collection":"b","access":"r"}]}' > "$corpus/claims1"
printf '\x01{"exp":2000,"access":"m","value_exists":null}' > "$corpus/claims2"
printf '\x02vxk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' > "$corpus/key"
printf '\x02fuzz-bootstrap-key' > "$corpus/bootstrap"
./build-fuzz/fuzz/fuzz_auth -max_total_time="$secs" -max_len=4096 \
    -artifact_prefix=build-fuzz/ "$corpus"

# `vectron import` record parsers: byte 0 even = JSONL lines, odd = a CSV
# header line then CSV lines (see fuzz/fuzz_cli_parse.c).
corpus=build-fuzz/corpus-cli
mkdir -p "$corpus"
printf '\x00{"id":1,"vector":[1,2.5,-3e2],"payload":{"a":"x","n":18446744073709551615}}\n{"vector":[0]}\n{"id":"550e8400-e29b-41d4-a716-446655440000","vector":[1],"payload":null}' > "$corpus/jsonl"
printf '\x01id,v0,v1,name,price\n1,0.5,2,"a ""b"", c",3.5\n2,1,1,,-7\n550e8400-e29b-41d4-a716-446655440000,1e3,0,true,007' > "$corpus/csv"
printf '\x01vector,label\n"[1,2,3]",x\n"[0.5,1e-3,-2]",18446744073709551616' > "$corpus/csvvec"
./build-fuzz/fuzz/fuzz_cli_parse -max_total_time="$secs" -max_len=4096 \
    -artifact_prefix=build-fuzz/ "$corpus"

# Dashboard request inputs: an If-None-Match value, NUL, a file name.
corpus=build-fuzz/corpus-dashboard
mkdir -p "$corpus"
printf 'W/"0123456789abcdef", *\x00app.js' > "$corpus/one"
printf '"x",,"y"\x00..%%2Findex.html' > "$corpus/two"
./build-fuzz/fuzz/fuzz_dashboard -max_total_time="$secs" -max_len=1024 \
    -artifact_prefix=build-fuzz/ "$corpus"

# Session tokens (the vectron-session header): seeds are real tokens of
# 1 and 3 shards (tests/unit/test_session_token.c checks them) and a short one.
corpus=build-fuzz/corpus-session
mkdir -p "$corpus"
printf 'v1.BQEHgmmTnA' > "$corpus/one"
printf 'v1.ZAMAyAHAhD0SnCE1' > "$corpus/three"
printf 'v1.AAAA' > "$corpus/short"
./build-fuzz/fuzz/fuzz_session_token -max_total_time="$secs" -max_len=8192 \
    -artifact_prefix=build-fuzz/ "$corpus"
