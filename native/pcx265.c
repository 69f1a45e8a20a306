/* pcx265: a small C library over libx265 (HEVC) for perceptcodec, called from Python with ctypes.
 *
 * The same shape as pcx264.c. One encoder per pcx265_enc. Frames are I420 8-bit; each may carry
 * a float32 map of QP offsets (x265_picture.quantOffsets), one per block of x265's QP-offset
 * grid, row-major: 16x16 blocks, ceil(H/16) x ceil(W/16) (the quantisation-group size is set to
 * 16 so that the offsets apply per 16x16 block, like x264's macroblocks; with x265-params
 * qg-size=8 the grid is 8x8 blocks, twice as many rows and columns). pcx265_grid() reports the
 * grid. Output is Annex-B HEVC without repeated headers; pcx265_headers() gives VPS+SPS+PPS for
 * the container's extradata (hvcC).
 *
 * libx265 (3.5, X265_BUILD 199) facts this relies on:
 * - quantOffsets are added to the adaptive-quantisation offsets in the lookahead; they are
 *   ignored when aq-mode is 0, and also at aq-strength 0 unless cutree is on (measured), so
 *   with offsets AQ off or at strength 0 becomes aq-mode 1 at strength 1e-4: the offsets, plus
 *   at most a few thousandths of a QP of variance AQ.
 * - x265's constant-QP mode forces aq-mode 0 (Encoder::configure), so offsets could not apply.
 *   With offsets, constant QP is run as CRF with every frame's base QP forced to that QP
 *   (x265_picture.forceqp = QP + 1), no cutree, no VBV, AQ at the bookkeeping strength below:
 *   I, P and B frames then share the QP, as in pcx264's CQP with offsets (x265's own CQP gives
 *   I frames QP - 6 log2(ipratio) and B frames QP + 6 log2(pbratio)). Without offsets it is
 *   x265's own CQP.
 * - x265 copies quantOffsets into a recycled frame buffer that exists only if the frame that
 *   created the buffer had offsets: mixing frames with and without offsets can write through a
 *   NULL pointer or reuse stale offsets. With offsets on, every frame gets a map (zeros when the
 *   caller gives none).
 * - All x265 encoders open at once in a process must share one CTU size; the check is reset
 *   only by x265_cleanup(), which this library calls when its last encoder closes.
 */
#define _POSIX_C_SOURCE 200809L /* strdup, strtok_r under -std=c99 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <x265.h>

#define PCX_RC_ABR 0
#define PCX_RC_CRF 1
#define PCX_RC_CQP 2
#define AQ_BOOKKEEPING 1e-4 /* AQ strength that keeps x265's AQ path (and so the offsets) on */

typedef struct {
    int width, height;              /* pixels */
    int fps_num, fps_den;           /* nominal frame rate */
    int timebase_num, timebase_den; /* units of pts (x265 passes pts through) */
    int vfr;                        /* accepted for symmetry; x265 rate control uses fps */
    int rc_mode;                    /* PCX_RC_* */
    int bitrate_kbps;               /* ABR target, kbit/s */
    float crf;                      /* CRF value */
    int qp;                         /* constant QP */
    int pass;                       /* 0: single pass, 1: first of two, 2: second of two */
    const char *stats_path;         /* 2-pass statistics file */
    const char *preset;             /* x265 preset or NULL */
    const char *tune;               /* x265 tune or NULL */
    int keyint;                     /* max GOP length in frames, 0 = x265 default */
    int threads;                    /* worker threads (x265 pools), 0 = auto */
    int use_offsets;                /* 1: frames carry QP-offset maps */
    int vbv_maxrate_kbps;           /* 0 = none */
    int vbv_bufsize_kbit;           /* 0 = none */
    int sar_width, sar_height;      /* sample aspect ratio, 0 = unspecified */
    const char *x265_params;        /* "key=value:key2=value2" or NULL */
    int level_idc;                  /* level x 10 (41 = 4.1), 0 = x265's choice */
    int fullrange;                  /* VUI video_full_range_flag: 0/1, -1 = unspecified */
    int colorprim, transfer, colmatrix; /* VUI colour codes (H.273), -1 = unspecified */
    int log_level;                  /* X265_LOG_* (X265_LOG_ERROR by default) */
} pcx265_params;

typedef struct {
    const uint8_t *data; /* valid until the next pcx265_encode call */
    int size;            /* bytes; 0 = no packet this call */
    int64_t pts, dts;    /* in timebase units */
    int keyframe;        /* the access unit holds an IRAP picture (IDR, CRA or BLA) */
    int slice_type;      /* X265_TYPE_* */
} pcx265_packet;

typedef struct {
    x265_encoder *h;
    x265_param *param;
    float *zeros;    /* rows*cols zeros, given when a frame comes without a map */
    char *stats;     /* copy of the statistics file name */
    int block;       /* offset grid: block size in pixels (16 or 8) */
    int rows, cols;  /* offset grid: blocks */
    int use_offsets;
    int force_qp;    /* 0, or QP + 1 forced on every frame (constant QP with offsets) */
    int flushing;
} pcx265_enc;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_open = 0; /* encoders open in this process */

int pcx265_build(void) { return X265_BUILD; }

static void set_err(char *err, int errlen, const char *msg) {
    if (err && errlen > 0) snprintf(err, (size_t)errlen, "%s", msg);
}

/* Keys that perceptcodec's own settings own: set through them, not x265-params. */
static const char *const OWNED[] = {
    "input-res", "input-csp", "input-depth", "output-depth", "fps", "interlace", "annexb",
    "repeat-headers", "pass", "stats", "bitrate", "crf", "qp", "preset", "tune", "keyint",
    "sar", "vbv-maxrate", "vbv-bufsize", "level-idc", NULL,
};

/* Apply "key=value:key=value" with x265_param_parse; a key without '=' means "1" (booleans,
 * "no-" prefixes work too). Returns 0, or -1 with the offending key named in err. */
static int parse_params(x265_param *q, const char *text, char *err, int errlen) {
    char *copy = strdup(text), *save = NULL;
    if (!copy) { set_err(err, errlen, "out of memory"); return -1; }
    for (char *item = strtok_r(copy, ":", &save); item; item = strtok_r(NULL, ":", &save)) {
        char *value = strchr(item, '=');
        if (value) *value++ = '\0';
        if (!*item) continue;
        for (int i = 0; OWNED[i]; i++) {
            if (!strcmp(item, OWNED[i])) {
                if (err && errlen > 0)
                    snprintf(err, (size_t)errlen,
                             "x265 parameter '%s' is set by perceptcodec's own options, "
                             "not x265-params", item);
                free(copy);
                return -1;
            }
        }
        int rc = x265_param_parse(q, item, value);
        if (rc != 0) {
            if (err && errlen > 0) {
                if (rc == X265_PARAM_BAD_NAME)
                    snprintf(err, (size_t)errlen, "unknown x265 parameter '%s'", item);
                else
                    snprintf(err, (size_t)errlen, "bad value '%s' for x265 parameter '%s'",
                             value ? value : "", item);
            }
            free(copy);
            return -1;
        }
    }
    free(copy);
    return 0;
}

static int set_num(x265_param *q, const char *key, int value) {
    char buf[32];
    snprintf(buf, sizeof(buf), "%d", value);
    return x265_param_parse(q, key, buf);
}

static void fail_open(pcx265_enc *e) {
    if (e->param) x265_param_free(e->param);
    free(e->zeros);
    free(e->stats);
    free(e);
}

pcx265_enc *pcx265_open(const pcx265_params *p, char *err, int errlen) {
    if (!p) { set_err(err, errlen, "no parameters"); return NULL; }
    if (p->width < 16 || p->height < 16 || p->width % 2 || p->height % 2) {
        set_err(err, errlen, "x265 needs even sizes of at least 16 pixels");
        return NULL;
    }
    if (p->fps_num <= 0 || p->fps_den <= 0) {
        set_err(err, errlen, "frame rate must be > 0");
        return NULL;
    }
    if (p->pass && (!p->stats_path || !*p->stats_path)) {
        set_err(err, errlen, "2-pass encoding needs a statistics file");
        return NULL;
    }
    pcx265_enc *e = calloc(1, sizeof(*e));
    if (!e) { set_err(err, errlen, "out of memory"); return NULL; }
    e->param = x265_param_alloc();
    if (!e->param) { set_err(err, errlen, "out of memory"); fail_open(e); return NULL; }
    x265_param *q = e->param;
    if (x265_param_default_preset(q, p->preset, p->tune) < 0) {
        set_err(err, errlen, "unknown x265 preset or tune");
        fail_open(e);
        return NULL;
    }
    q->logLevel = p->log_level;
    q->internalCsp = X265_CSP_I420;
    q->sourceWidth = p->width;
    q->sourceHeight = p->height;
    q->fpsNum = (uint32_t)p->fps_num;
    q->fpsDenom = (uint32_t)p->fps_den;
    q->bOpenGOP = 0; /* closed GOPs: every keyframe is an IDR, as with x264 */
    if (p->keyint > 0) q->keyframeMax = p->keyint;
    if (p->threads > 0) set_num(q, "pools", p->threads);
    q->rc.qgSize = 16; /* QP-offset grid 16x16, like x264's macroblocks */
    switch (p->rc_mode) {
    case PCX_RC_CRF:
        q->rc.rateControlMode = X265_RC_CRF;
        q->rc.rfConstant = p->crf;
        break;
    case PCX_RC_CQP:
        q->rc.rateControlMode = X265_RC_CQP;
        q->rc.qp = p->qp;
        break;
    default:
        q->rc.rateControlMode = X265_RC_ABR;
        q->rc.bitrate = p->bitrate_kbps;
        break;
    }
    if (p->sar_width > 0 && p->sar_height > 0) {
        q->vui.aspectRatioIdc = X265_EXTENDED_SAR;
        q->vui.sarWidth = p->sar_width;
        q->vui.sarHeight = p->sar_height;
    }
    if (p->vbv_maxrate_kbps > 0) q->rc.vbvMaxBitrate = p->vbv_maxrate_kbps;
    if (p->vbv_bufsize_kbit > 0) q->rc.vbvBufferSize = p->vbv_bufsize_kbit;
    if (p->level_idc > 0) q->levelIdc = p->level_idc;
    /* The input's colour description (unset fields keep x265's "undefined"). */
    if (p->fullrange >= 0) {
        q->vui.bEnableVideoSignalTypePresentFlag = 1;
        q->vui.bEnableVideoFullRangeFlag = p->fullrange;
    }
    if (p->colorprim >= 0 || p->transfer >= 0 || p->colmatrix >= 0) {
        q->vui.bEnableVideoSignalTypePresentFlag = 1;
        q->vui.bEnableColorDescriptionPresentFlag = 1;
        if (p->colorprim >= 0) q->vui.colorPrimaries = p->colorprim;
        if (p->transfer >= 0) q->vui.transferCharacteristics = p->transfer;
        if (p->colmatrix >= 0) q->vui.matrixCoeffs = p->colmatrix;
    }
    if (p->x265_params && *p->x265_params && parse_params(q, p->x265_params, err, errlen) < 0) {
        fail_open(e);
        return NULL;
    }
    /* What this wrapper needs, whatever x265-params said. */
    q->bAnnexB = 1;
    q->bRepeatHeaders = 0;
    q->internalCsp = X265_CSP_I420;
    if (p->pass) {
        e->stats = strdup(p->stats_path);
        if (!e->stats) { set_err(err, errlen, "out of memory"); fail_open(e); return NULL; }
        q->rc.bStatWrite = p->pass == 1;
        q->rc.bStatRead = p->pass == 2;
        q->rc.statFileName = e->stats;
    }
    if (p->use_offsets) {
        if (q->rc.rateControlMode == X265_RC_CQP) {
            /* constant QP that keeps adaptive quantisation (see the top of this file) */
            q->rc.rateControlMode = X265_RC_CRF;
            q->rc.rfConstant = q->rc.qp;
            e->force_qp = q->rc.qp + 1;
            q->rc.cuTree = 0;
            q->rc.vbvMaxBitrate = 0;
            q->rc.vbvBufferSize = 0;
            q->rc.aqMode = X265_AQ_VARIANCE;
            q->rc.aqStrength = AQ_BOOKKEEPING;
        } else if (q->rc.aqMode == X265_AQ_NONE || q->rc.aqStrength == 0.0) {
            if (q->rc.aqMode == X265_AQ_NONE) q->rc.aqMode = X265_AQ_VARIANCE;
            q->rc.aqStrength = AQ_BOOKKEEPING;
        }
    }
    if (x265_param_apply_profile(q, "main") < 0) {
        set_err(err, errlen, "x265 rejected the main profile with these settings");
        fail_open(e);
        return NULL;
    }
    pthread_mutex_lock(&g_lock);
    e->h = x265_encoder_open(q);
    if (e->h) g_open++;
    else if (g_open == 0) x265_cleanup();
    pthread_mutex_unlock(&g_lock);
    if (!e->h) {
        set_err(err, errlen,
                p->pass == 2 ? "x265 could not open (pass-1 statistics missing, unreadable or "
                               "from other settings?)"
                             : "x265 could not open an encoder with these settings (encoders "
                               "open at once must share one CTU size)");
        fail_open(e);
        return NULL;
    }
    x265_param used; /* the settings x265 settled on (a shallow copy: read, never free) */
    x265_encoder_parameters(e->h, &used);
    /* x265 pads the picture to its minimum CU size; the lookahead's grid is 16x16 blocks of
     * the padded picture (8x8 with qg-size 8: twice the rows and columns). */
    int pad = used.minCUSize > 0 ? (int)used.minCUSize : 8;
    int w = (p->width + pad - 1) / pad * pad, h = (p->height + pad - 1) / pad * pad;
    e->rows = (h / 2 + 7) / 8;
    e->cols = (w / 2 + 7) / 8;
    e->block = 16;
    if (used.rc.qgSize == 8) {
        e->rows *= 2;
        e->cols *= 2;
        e->block = 8;
    }
    e->use_offsets = p->use_offsets;
    if (e->use_offsets) {
        e->zeros = calloc((size_t)e->rows * (size_t)e->cols, sizeof(float));
        if (!e->zeros) {
            set_err(err, errlen, "out of memory");
            x265_encoder_close(e->h);
            e->h = NULL;
            pthread_mutex_lock(&g_lock);
            if (--g_open == 0) x265_cleanup();
            pthread_mutex_unlock(&g_lock);
            fail_open(e);
            return NULL;
        }
    }
    return e;
}

/* The QP-offset grid: block size in pixels and rows x columns of blocks. 0, or -1 for no
 * encoder. */
int pcx265_grid(const pcx265_enc *e, int *block, int *rows, int *cols) {
    if (!e || !e->h || !block || !rows || !cols) return -1;
    *block = e->block;
    *rows = e->rows;
    *cols = e->cols;
    return 0;
}

/* VPS, SPS and PPS (Annex B) into buf; returns bytes written, -1 on error or if cap is too
 * small. */
int pcx265_headers(pcx265_enc *e, uint8_t *buf, int cap) {
    x265_nal *nal = NULL;
    uint32_t n = 0;
    int len = 0;
    if (!e || !e->h || !buf || cap < 0) return -1;
    if (x265_encoder_headers(e->h, &nal, &n) < 0) return -1;
    for (uint32_t i = 0; i < n; i++) {
        if (nal[i].type != NAL_UNIT_VPS && nal[i].type != NAL_UNIT_SPS &&
            nal[i].type != NAL_UNIT_PPS)
            continue;
        if (len + (int)nal[i].sizeBytes > cap) return -1;
        memcpy(buf + len, nal[i].payload, nal[i].sizeBytes);
        len += (int)nal[i].sizeBytes;
    }
    return len;
}

/* Encode one frame (y != NULL) or drain one delayed frame (y == NULL; from then on only
 * draining). qp_offsets: NULL or rows*cols floats (copied by x265 during this call). Returns
 * packet bytes (> 0), 0 when no packet came out (while filling; after the last one when
 * draining), or -1 on error. */
int pcx265_encode(pcx265_enc *e, const uint8_t *y, const uint8_t *u, const uint8_t *v,
                  int stride_y, int stride_u, int stride_v, int64_t pts,
                  const float *qp_offsets, pcx265_packet *pkt) {
    x265_picture in, out;
    x265_nal *nal = NULL;
    uint32_t n = 0;
    int ret;
    if (!e || !e->h || !pkt) return -1;
    memset(pkt, 0, sizeof(*pkt));
    x265_picture_init(e->param, &out);
    if (y) {
        if (!u || !v || e->flushing || stride_y <= 0 || stride_u <= 0 || stride_v <= 0)
            return -1;
        x265_picture_init(e->param, &in);
        in.colorSpace = X265_CSP_I420;
        in.bitDepth = 8;
        in.planes[0] = (void *)y;
        in.planes[1] = (void *)u;
        in.planes[2] = (void *)v;
        in.stride[0] = stride_y;
        in.stride[1] = stride_u;
        in.stride[2] = stride_v;
        in.pts = pts;
        in.sliceType = X265_TYPE_AUTO;
        in.forceqp = e->force_qp;
        in.quantOffsets = NULL;
        if (e->use_offsets) in.quantOffsets = (float *)(qp_offsets ? qp_offsets : e->zeros);
        ret = x265_encoder_encode(e->h, &nal, &n, &in, &out);
    } else {
        e->flushing = 1;
        ret = x265_encoder_encode(e->h, &nal, &n, NULL, &out);
    }
    if (ret < 0) return -1;
    if (ret == 0 || n == 0) return 0;
    int64_t size = 0;
    for (uint32_t i = 0; i < n; i++) {
        size += nal[i].sizeBytes;
        if (nal[i].type >= NAL_UNIT_CODED_SLICE_BLA_W_LP && nal[i].type <= NAL_UNIT_CODED_SLICE_CRA)
            pkt->keyframe = 1;
    }
    if (size > INT32_MAX) return -1;
    pkt->data = nal[0].payload; /* x265 lays an access unit's NALs out contiguously */
    pkt->size = (int)size;
    pkt->pts = out.pts;
    pkt->dts = out.dts;
    pkt->slice_type = out.sliceType;
    return (int)size;
}

/* Closing finishes the pass-1 statistics files (stats_path and stats_path.cutree). */
void pcx265_close(pcx265_enc *e) {
    if (!e) return;
    if (e->h) {
        x265_encoder_close(e->h);
        e->h = NULL;
        pthread_mutex_lock(&g_lock);
        if (--g_open == 0) x265_cleanup();
        pthread_mutex_unlock(&g_lock);
    }
    fail_open(e);
}
