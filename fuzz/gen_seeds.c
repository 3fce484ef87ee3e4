/*
 * gen_seeds.c - writes small valid index files (float and int8, several
 * metrics) into a directory, as the fuzzer's starting corpus.
 */
#include <stdio.h>

#include "vectron/index.h"

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    for (int v = 0; v < 4; v++) {
        vectron_index_params p;
        vectron_index *idx;
        char path[512];
        uint32_t dim = 2 + (uint32_t)v;
        vectron_index_params_default(&p, dim);
        p.m = 2 + (uint32_t)v;
        p.ef_construction = 8;
        p.metric = (vectron_metric)(v % 3);
        p.quant = v >= 2 ? VECTRON_QUANT_INT8 : VECTRON_QUANT_NONE;
        p.quant_train_size = 5;
        if (vectron_index_new(&p, &idx, NULL) != 0) {
            return 1;
        }
        for (uint64_t i = 0; i < 12 + 8 * (uint64_t)v; i++) {
            float x[8];
            for (uint32_t d = 0; d < dim; d++) {
                x[d] = (float)((i * 7 + d * 13) % 11) - 5.0f + 0.5f;
            }
            vectron_index_add(idx, i * 3 + 1, x, NULL);
        }
        snprintf(path, sizeof path, "%s/seed-%d.idx", dir, v);
        if (vectron_index_save(idx, path, NULL) != 0) {
            return 1;
        }
        vectron_index_free(idx);
    }
    return 0;
}
