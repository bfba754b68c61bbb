/* Folders of PNG images, one sub-folder per class (ImageFolder layout).
 *
 * Two passes: the first reads every file's PNG header only (size, colour),
 * so that mixed sizes are reported before anything is decoded and the image
 * array is allocated once at its exact size; the second decodes each image
 * into its place (channel conversion, then resize when asked).
 * Policy (see rd_data_options): channels = 3 if any image has colour unless
 * forced; grey expanded to R = G = B; RGB to grey with PIL's "L" weights;
 * alpha dropped; 16-bit scaled to 8; non-PNG or corrupt files fatal unless
 * skip_bad_files; files that cannot be opened are always fatal. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/data_internal.h"


typedef struct png_entry {
    char *path;
    int cls;
    int w, h, colour;  /* from the header */
    int skip;          /* not a PNG or corrupt (skip_bad_files) */
} png_entry;

typedef struct name_list {
    char **v;
    int n, cap;
} name_list;

static int name_list_add(name_list *l, const char *s) {
    if (l->n == l->cap) {
        int ncap = l->cap ? 2 * l->cap : 64;
        char **nv = realloc(l->v, (size_t)ncap * sizeof *nv);
        if (!nv) return 0;
        l->v = nv;
        l->cap = ncap;
    }
    if (!(l->v[l->n] = rd_strdup(s))) return 0;
    l->n++;
    return 1;
}

static void name_list_free(name_list *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Names of the sub-folders (want_dirs) or regular files of dir, sorted, hidden entries left out. */
static rd_status list_dir(const char *dir, int want_dirs, name_list *out, rd_err *err) {
    DIR *d = opendir(dir);
    if (!d) return rd_fail(err, RD_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (rd_path_fmt(path, sizeof path, err, "%s/%s", dir, e->d_name) != RD_OK) {
            closedir(d);
            return err->code;
        }
        struct stat st;
        if (stat(path, &st) != 0) continue;  /* a dangling link */
        if (want_dirs ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) continue;
        if (!name_list_add(out, e->d_name)) {
            closedir(d);
            return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of host memory listing the folder", dir);
        }
    }
    closedir(d);
    if (out->n > 1) qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_str);
    return RD_OK;
}

/* ---------------- one PNG file through libpng ---------------- */
typedef struct png_errbuf {
    char msg[200];
} png_errbuf;

static void png_error_fn(png_structp png, png_const_charp msg) {
    png_errbuf *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_warning_fn(png_structp png, png_const_charp msg) {
    (void)png;  /* the library never prints; a warning does not stop the read */
    (void)msg;
}

enum { PNG_OK = 0, PNG_BAD = 1, PNG_IO = 2, PNG_NOMEM = 3 };

/* Reads the header of path (and with pixels != NULL the whole image, 8-bit,
 * alpha dropped, 1 or 3 channels interleaved: *channels). On failure why says
 * what is wrong. *pixels grows as needed (*cap bytes). */
static int png_read_file(const char *path, int *w, int *h, int *colour, uint8_t **pixels, size_t *cap,
                         int *channels, char *why, size_t whylen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, whylen, "cannot open: %s", strerror(errno));
        return PNG_IO;
    }
    struct stat st;
    uint64_t file_bytes = fstat(fileno(f), &st) == 0 ? (uint64_t)st.st_size : 0;
    uint8_t sig[8];
    if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8) != 0) {
        fclose(f);
        snprintf(why, whylen, "not a PNG file (no PNG signature)");
        return PNG_BAD;
    }
    png_errbuf ebuf = {{0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ebuf, png_error_fn, png_warning_fn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        fclose(f);
        snprintf(why, whylen, "out of memory for the PNG decoder");
        return PNG_NOMEM;
    }
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rows);
        if (feof(f))
            snprintf(why, whylen, "truncated PNG (the file ends early: %s)", ebuf.msg[0] ? ebuf.msg : "libpng error");
        else
            snprintf(why, whylen, "corrupt PNG (%s)", ebuf.msg[0] ? ebuf.msg : "libpng error");
        fclose(f);
        return PNG_BAD;
    }
    png_init_io(png, f);
    png_set_sig_bytes(png, 8);
    png_set_user_limits(png, RD_DATA_MAX_SIDE, RD_DATA_MAX_SIDE);
    png_read_info(png, info);
    png_uint_32 pw = png_get_image_width(png, info), ph = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), ctype = png_get_color_type(png, info);
    int raw_channels = png_get_channels(png, info);
    /* Deflate inflates at most ~1032:1: a header announcing more raw data than
     * the file could hold is corrupt (and must not size an allocation). */
    uint64_t raw = (uint64_t)ph * (((uint64_t)pw * (uint64_t)depth * (uint64_t)raw_channels + 7) / 8 + 1);
    if (raw > 1100 * file_bytes + 65536) png_error(png, "header announces more pixels than the file can hold");
    *w = (int)pw;
    *h = (int)ph;
    *colour = (ctype & PNG_COLOR_MASK_COLOR) != 0;
    if (pixels) {
        if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
        if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
        if (depth == 16) png_set_scale_16(png);
        if (ctype & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
        png_set_interlace_handling(png);
        png_read_update_info(png, info);
        int ch = png_get_channels(png, info);
        size_t rowbytes = png_get_rowbytes(png, info);
        if ((ch != 1 && ch != 3) || rowbytes != (size_t)pw * (size_t)ch)
            png_error(png, "unexpected layout after conversion to 8-bit grey or RGB");
        size_t need = rowbytes * ph;
        if (need > *cap) {
            uint8_t *nb = realloc(*pixels, need);
            if (!nb) png_error(png, "out of memory for the decoded image");
            *pixels = nb;
            *cap = need;
        }
        rows = malloc(ph * sizeof *rows);
        if (!rows) png_error(png, "out of memory for row pointers");
        for (png_uint_32 y = 0; y < ph; y++) rows[y] = *pixels + y * rowbytes;
        png_read_image(png, rows);
        png_read_end(png, NULL);
        *channels = ch;
    }
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    free(rows);
    return PNG_OK;
}

/* ---------------- resizing ---------------- */
/* Per-axis filter: dst index i takes sum over k of weight[first_w[i] + k] * src[first[i] + k], k < taps[i].
 * Shrinking: area average (each destination pixel covers src/dst source pixels).
 * Enlarging: bilinear between pixel centres (half-pixel convention, edges clamped). */
typedef struct axis_filter {
    int *first, *taps, *woff;
    float *weight;
} axis_filter;

static void axis_free(axis_filter *a) {
    free(a->first);
    free(a->taps);
    free(a->woff);
    free(a->weight);
}

static int axis_make(int src, int dst, axis_filter *a) {
    double scale = (double)src / dst;
    int max_taps = dst <= src ? (int)ceil(scale) + 2 : 2;
    a->first = malloc((size_t)dst * sizeof(int));
    a->taps = malloc((size_t)dst * sizeof(int));
    a->woff = malloc((size_t)dst * sizeof(int));
    a->weight = malloc((size_t)dst * (size_t)max_taps * sizeof(float));
    if (!a->first || !a->taps || !a->woff || !a->weight) return 0;
    int wo = 0;
    for (int i = 0; i < dst; i++) {
        a->woff[i] = wo;
        if (dst <= src) {
            double lo = i * scale, hi = (i + 1) * scale;
            int j0 = (int)floor(lo), j1 = (int)ceil(hi);
            if (j1 > src) j1 = src;
            a->first[i] = j0;
            a->taps[i] = 0;
            for (int j = j0; j < j1; j++) {
                double ov = fmin(hi, j + 1.0) - fmax(lo, (double)j);
                a->weight[wo + a->taps[i]++] = (float)(ov > 0 ? ov / scale : 0);
            }
        } else {
            double x = (i + 0.5) * scale - 0.5;
            if (x < 0) x = 0;
            if (x > src - 1) x = src - 1;
            int j0 = (int)floor(x);
            int j1 = j0 + 1 < src ? j0 + 1 : j0;
            double t = x - j0;
            a->first[i] = j0;
            a->taps[i] = j1 > j0 ? 2 : 1;
            a->weight[wo] = (float)(j1 > j0 ? 1 - t : 1);
            if (j1 > j0) a->weight[wo + 1] = (float)t;
        }
        wo += a->taps[i];
    }
    return 1;
}

/* One plane src (sh x sw) into dst (dh x dw); tmp holds sh x dw floats. */
static void resize_plane(const uint8_t *src, int sh, int sw, uint8_t *dst, int dh, int dw, const axis_filter *fx,
                         const axis_filter *fy, float *tmp) {
    for (int y = 0; y < sh; y++)
        for (int x = 0; x < dw; x++) {
            const uint8_t *s = src + (size_t)y * sw + fx->first[x];
            const float *wt = fx->weight + fx->woff[x];
            float acc = 0;
            for (int k = 0; k < fx->taps[x]; k++) acc += wt[k] * s[k];
            tmp[(size_t)y * dw + x] = acc;
        }
    for (int y = 0; y < dh; y++) {
        const float *wt = fy->weight + fy->woff[y];
        for (int x = 0; x < dw; x++) {
            float acc = 0;
            for (int k = 0; k < fy->taps[y]; k++) acc += wt[k] * tmp[(size_t)(fy->first[y] + k) * dw + x];
            int v = (int)lrintf(acc);
            dst[(size_t)y * dw + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

/* Interleaved 8-bit pixels (sch = 1 or 3 channels) to dch planes (1 or 3). */
static void to_planes(const uint8_t *px, int sch, int w, int h, int dch, uint8_t *planes) {
    size_t hw = (size_t)w * h;
    for (size_t i = 0; i < hw; i++) {
        const uint8_t *p = px + i * (size_t)sch;
        if (sch == dch) {
            for (int c = 0; c < dch; c++) planes[c * hw + i] = p[c];
        } else if (sch == 1) {
            for (int c = 0; c < dch; c++) planes[c * hw + i] = p[0];
        } else { /* RGB to grey: PIL's ITU-R 601-2 luma, rounded */
            planes[i] = (uint8_t)((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
        }
    }
}

/* ---------------- the folder ---------------- */
rd_status rd_load_png_folder(const char *dir, const rd_data_options *opt, rd_dataset *out, rd_err *err) {
    rd_data_options none = {0};
    if (!opt) opt = &none;
    memset(out, 0, sizeof *out);
    if (opt->channels != 0 && opt->channels != 1 && opt->channels != 3)
        return rd_fail(err, RD_ERR_ARG, "%s: channels must be 0 (automatic), 1 or 3, not %d", dir, opt->channels);
    if ((opt->resize_h > 0) != (opt->resize_w > 0) || opt->resize_h < 0 || opt->resize_w < 0 ||
        opt->resize_h > RD_DATA_MAX_SIDE || opt->resize_w > RD_DATA_MAX_SIDE)
        return rd_fail(err, RD_ERR_ARG, "%s: resize %dx%d: give both sides (1 to %d) or neither", dir, opt->resize_h,
                       opt->resize_w, RD_DATA_MAX_SIDE);
    name_list classes = {0};
    png_entry *files = NULL;
    int nfiles = 0, cap_files = 0;
    uint8_t *pix = NULL, *planes = NULL;
    size_t pix_cap = 0;
    float *tmp = NULL;
    axis_filter fx = {0}, fy = {0};
    char why[256];
    rd_status s = list_dir(dir, 1, &classes, err);
    if (s != RD_OK) goto done;
    if (classes.n == 0) {
        s = rd_fail(err, RD_ERR_FORMAT, "%s: no class folders (expected %s/<class>/*.png)", dir, dir);
        goto done;
    }
    if (classes.n > 1 << 20) {
        s = rd_fail(err, RD_ERR_FORMAT, "%s: %d class folders: too many", dir, classes.n);
        goto done;
    }
    /* pass 1: file lists and headers */
    for (int c = 0; c < classes.n; c++) {
        char cdir[4096];
        if ((s = rd_path_fmt(cdir, sizeof cdir, err, "%s/%s", dir, classes.v[c])) != RD_OK) goto done;
        name_list names = {0};
        if ((s = list_dir(cdir, 0, &names, err)) != RD_OK) goto done;
        if (names.n == 0) {
            name_list_free(&names);
            s = rd_fail(err, RD_ERR_FORMAT, "%s: empty class folder (no image files)", cdir);
            goto done;
        }
        if (nfiles + names.n > cap_files || nfiles > INT32_MAX - names.n) {
            int ncap = nfiles + names.n + cap_files;
            png_entry *nf = nfiles > INT32_MAX - names.n ? NULL : realloc(files, (size_t)ncap * sizeof *nf);
            if (!nf) {
                name_list_free(&names);
                s = rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of host memory for the file list", dir);
                goto done;
            }
            files = nf;
            cap_files = ncap;
        }
        for (int i = 0; i < names.n; i++) {
            png_entry *e = &files[nfiles];
            memset(e, 0, sizeof *e);
            size_t len = strlen(cdir) + strlen(names.v[i]) + 2;
            e->path = malloc(len);
            if (!e->path) {
                name_list_free(&names);
                s = rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of host memory for the file list", dir);
                goto done;
            }
            snprintf(e->path, len, "%s/%s", cdir, names.v[i]);
            e->cls = c;
            nfiles++;
        }
        name_list_free(&names);
    }
    int any_colour = 0, first = -1, kept = 0;
    for (int i = 0; i < nfiles; i++) {
        png_entry *e = &files[i];
        int r = png_read_file(e->path, &e->w, &e->h, &e->colour, NULL, NULL, NULL, why, sizeof why);
        if (r == PNG_BAD && opt->skip_bad_files) {
            e->skip = 1;
            continue;
        }
        if (r != PNG_OK) {
            s = rd_fail(err, r == PNG_IO ? RD_ERR_IO : r == PNG_NOMEM ? RD_ERR_OUT_OF_MEMORY : RD_ERR_FORMAT,
                        "%s: %s%s", e->path, why, r == PNG_BAD ? " (fatal; skip_bad_files skips such files)" : "");
            goto done;
        }
        if (first < 0) first = i;
        else if (opt->resize_h == 0 && (e->w != files[first].w || e->h != files[first].h)) {
            s = rd_fail(err, RD_ERR_FORMAT,
                        "%s: image is %dx%d (WxH) but %s is %dx%d: mixed sizes (give a resize size to accept them)",
                        e->path, e->w, e->h, files[first].path, files[first].w, files[first].h);
            goto done;
        }
        any_colour |= e->colour;
        kept++;
    }
    int C = opt->channels ? opt->channels : any_colour ? 3 : 1;
    int H = opt->resize_h ? opt->resize_h : kept ? files[first].h : 1;
    int W = opt->resize_w ? opt->resize_w : kept ? files[first].w : 1;
    size_t image_bytes = (size_t)C * H * W, total;
    if (!rd_mul_ok(image_bytes, (size_t)kept, SIZE_MAX / 4, &total)) {
        s = rd_fail(err, RD_ERR_FORMAT, "%s: %d images of %dx%dx%d: too large", dir, kept, C, H, W);
        goto done;
    }
    out->images = malloc(total ? total : 1);
    out->labels = malloc((size_t)(kept ? kept : 1) * sizeof *out->labels);
    if (!out->images || !out->labels) {
        s = rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of host memory for %d images of %dx%dx%d", dir, kept, C, H, W);
        goto done;
    }
    /* pass 2: decode into place */
    int k = 0;
    size_t planes_cap = 0, tmp_cap = 0;
    int fx_src = -1, fy_src = -1;
    for (int i = 0; i < nfiles; i++) {
        png_entry *e = &files[i];
        if (e->skip) continue;
        int w, h, colour, ch;
        int r = png_read_file(e->path, &w, &h, &colour, &pix, &pix_cap, &ch, why, sizeof why);
        if (r == PNG_OK && (w != e->w || h != e->h)) {
            snprintf(why, sizeof why, "changed while being read");
            r = PNG_IO;
        }
        if (r == PNG_BAD && opt->skip_bad_files) {
            e->skip = 1;
            continue;
        }
        if (r != PNG_OK) {
            s = rd_fail(err, r == PNG_IO ? RD_ERR_IO : r == PNG_NOMEM ? RD_ERR_OUT_OF_MEMORY : RD_ERR_FORMAT,
                        "%s: %s%s", e->path, why, r == PNG_BAD ? " (fatal; skip_bad_files skips such files)" : "");
            goto done;
        }
        uint8_t *dst = out->images + (size_t)k * image_bytes;
        if (w == W && h == H) {
            to_planes(pix, ch, w, h, C, dst);
        } else {
            size_t need = (size_t)C * w * h, tneed = (size_t)h * W * sizeof(float);
            if (need > planes_cap) {
                free(planes);
                planes = malloc(need);
                planes_cap = planes ? need : 0;
            }
            if (tneed > tmp_cap) {
                free(tmp);
                tmp = malloc(tneed);
                tmp_cap = tmp ? tneed : 0;
            }
            if (w != fx_src) {
                axis_free(&fx);
                memset(&fx, 0, sizeof fx);
                fx_src = axis_make(w, W, &fx) ? w : -1;
            }
            if (h != fy_src) {
                axis_free(&fy);
                memset(&fy, 0, sizeof fy);
                fy_src = axis_make(h, H, &fy) ? h : -1;
            }
            if (!planes || !tmp || fx_src < 0 || fy_src < 0) {
                s = rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of host memory resizing to %dx%d", e->path, W, H);
                goto done;
            }
            to_planes(pix, ch, w, h, C, planes);
            for (int c = 0; c < C; c++)
                resize_plane(planes + (size_t)c * w * h, h, w, dst + (size_t)c * H * W, H, W, &fx, &fy, tmp);
        }
        out->labels[k++] = e->cls;
    }
    /* every class must keep at least one image */
    {
        int c = 0, i = 0;
        for (c = 0; c < classes.n; c++) {
            int got = 0, all = 0;
            for (; i < nfiles && files[i].cls == c; i++) {
                all++;
                got += !files[i].skip;
            }
            if (!got) {
                s = rd_fail(err, RD_ERR_FORMAT, "%s/%s: no readable PNG image (all %d files skipped)", dir,
                            classes.v[c], all);
                goto done;
            }
        }
    }
    out->n = k;
    out->c = C;
    out->h = H;
    out->w = W;
    out->classes = classes.n;
    out->skipped = nfiles - k;
    if ((s = rd_dataset_set_names(out, (const char *const *)classes.v, err)) != RD_OK) goto done;
    s = rd_dataset_describe(out, err, "PNG folder: %d images %dx%dx%d, %d classes, %d files skipped (%s)", out->n,
                            out->c, out->h, out->w, out->classes, out->skipped, dir);
done:
    for (int i = 0; i < nfiles; i++) free(files[i].path);
    free(files);
    free(pix);
    free(planes);
    free(tmp);
    axis_free(&fx);
    axis_free(&fy);
    name_list_free(&classes);
    if (s != RD_OK) rd_dataset_free(out);
    return s;
}
