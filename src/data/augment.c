/* Normalisation and augmentation of one image into floats, in torchvision's
 * order as DARTS uses it: RandomCrop(padding, fill 0) -> RandomHorizontalFlip
 * -> ToTensor -> Normalize -> Cutout. A per-channel table maps each byte to its
 * normalised float, so a batch costs one lookup per output value. */
#include <string.h>

#include "data/data_internal.h"

uint64_t rd_sample_key(uint64_t seed, int64_t epoch, int64_t pos) {
    return rd_mix64(rd_mix64(rd_mix64(seed ^ rd_mix64(RD_TAG_AUG)) + (uint64_t)epoch) + (uint64_t)pos);
}

void rd_augment_draw(const rd_augment *aug, int h, int w, uint64_t key, rd_aug_draw *d) {
    memset(d, 0, sizeof *d);
    if (!aug) return;
    rd_rng r = {key};
    int pad = aug->crop_pad > 0 ? aug->crop_pad : 0;
    d->dy = d->dx = pad;
    if (pad > 0) {
        d->dy = (int)rd_rng_below(&r, (uint64_t)(2 * pad + 1));
        d->dx = (int)rd_rng_below(&r, (uint64_t)(2 * pad + 1));
    }
    if (aug->hflip) d->flip = (int)(rd_rng_next(&r) >> 63);
    if (aug->cutout > 0) {
        d->cy = (int)rd_rng_below(&r, (uint64_t)h);
        d->cx = (int)rd_rng_below(&r, (uint64_t)w);
    }
}

void rd_norm_lut_make(const rd_norm *norm, rd_norm_lut *lut) {
    memset(lut, 0, sizeof *lut);
    for (int c = 0; c < norm->c && c < RD_DATA_MAX_CHANNELS; c++)
        for (int v = 0; v < 256; v++)
            lut->v[c][v] = (float)(((double)v / 255.0 - (double)norm->mean[c]) / (double)norm->std[c]);
}

void rd_render_lut(const rd_dataset *ds, int index, const rd_norm_lut *lut, const rd_augment *aug,
                   const rd_aug_draw *d, float *out) {
    int C = ds->c, H = ds->h, W = ds->w;
    int pad = aug && aug->crop_pad > 0 ? aug->crop_pad : 0;
    int oy = d ? d->dy - pad : 0, ox = d ? d->dx - pad : 0, flip = d ? d->flip : 0;
    const uint8_t *img = rd_dataset_image(ds, index);
    /* output column x reads source column sx = ox + x (or ox + W - 1 - x flipped); valid x: sx in [0, W) */
    int xlo, xhi;
    if (!flip) {
        xlo = -ox;
        xhi = W - ox;
    } else {
        xlo = ox;      /* ox + W - 1 - x < W  <=>  x >= ox */
        xhi = ox + W;  /* ox + W - 1 - x >= 0 <=>  x < ox + W */
    }
    if (xlo < 0) xlo = 0;
    if (xhi > W) xhi = W;
    for (int c = 0; c < C; c++) {
        const float *L = lut->v[c];
        const float black = L[0];  /* padding is black before normalisation */
        const uint8_t *plane = img + (size_t)c * H * W;
        for (int y = 0; y < H; y++) {
            float *o = out + ((size_t)c * H + y) * W;
            int sy = y + oy;
            if (sy < 0 || sy >= H || xlo >= xhi) {
                for (int x = 0; x < W; x++) o[x] = black;
                continue;
            }
            const uint8_t *row = plane + (size_t)sy * W;
            for (int x = 0; x < xlo; x++) o[x] = black;
            if (!flip)
                for (int x = xlo; x < xhi; x++) o[x] = L[row[ox + x]];
            else
                for (int x = xlo; x < xhi; x++) o[x] = L[row[ox + W - 1 - x]];
            for (int x = xhi; x < W; x++) o[x] = black;
        }
    }
    if (aug && aug->cutout > 0 && d) {
        /* as DARTS' Cutout: rows [cy - L/2, cy + L/2) and the same for columns, clipped */
        int half = aug->cutout / 2;
        int y0 = d->cy - half, y1 = d->cy + half, x0 = d->cx - half, x1 = d->cx + half;
        if (y0 < 0) y0 = 0;
        if (x0 < 0) x0 = 0;
        if (y1 > H) y1 = H;
        if (x1 > W) x1 = W;
        for (int c = 0; c < C; c++)
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++) out[((size_t)c * H + y) * W + x] = 0.0f;
    }
}

void rd_render_image(const rd_dataset *ds, int index, const rd_norm *norm, const rd_augment *aug,
                     const rd_aug_draw *d, float *out) {
    rd_norm_lut lut;
    rd_norm_lut_make(norm, &lut);
    rd_render_lut(ds, index, &lut, aug, d, out);
}
