/* pcx264: a small C library over libx264 for perceptcodec, called from Python with ctypes.
 *
 * One encoder per pcx_enc. Frames are I420 8-bit; each may carry a float32 map of QP offsets,
 * one per 16x16 macroblock, row-major, ceil(H/16) x ceil(W/16), added to the QP x264 chose
 * (x264_picture_t.prop.quant_offsets). Output is Annex-B H.264 without repeated headers;
 * pcx_headers() gives SPS+PPS for the container's extradata.
 */
#define _POSIX_C_SOURCE 200809L /* strdup under -std=c99 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <x264.h>

static void set_err(char *err, int errlen, const char *msg) {
    if (err && errlen > 0) snprintf(err, (size_t)errlen, "%s", msg);
}

#define PCX_RC_ABR 0
#define PCX_RC_CRF 1
#define PCX_RC_CQP 2

typedef struct {
    int width, height;           /* pixels */
    int fps_num, fps_den;        /* nominal frame rate */
    int timebase_num, timebase_den; /* units of pts */
    int vfr;                     /* 1: pts drive rate control (variable frame rate) */
    int rc_mode;                 /* PCX_RC_* */
    int bitrate_kbps;            /* ABR target, kbit/s */
    float crf;                   /* CRF value */
    int qp;                      /* constant QP */
    int pass;                    /* 0: single pass, 1: first of two, 2: second of two */
    const char *stats_path;      /* 2-pass statistics file */
    const char *preset;          /* x264 preset or NULL */
    const char *tune;            /* x264 tune or NULL */
    int keyint;                  /* max GOP length in frames, 0 = x264 default */
    int threads;                 /* 0 = auto */
    int use_offsets;             /* 1: frames may carry QP-offset maps */
    int vbv_maxrate_kbps;        /* 0 = none */
    int vbv_bufsize_kbit;        /* 0 = none */
    int sar_width, sar_height;   /* sample aspect ratio, 0 = unspecified */
    const char *x264_params;     /* "key=value:key=value" (x264_param_parse names) or NULL */
    const char *profile;         /* x264_param_apply_profile name, NULL = "high" */
    int level_idc;               /* H.264 level_idc (31 = 3.1, 9 = 1b), 0 = x264's choice */
    int fullrange;               /* VUI video_full_range_flag: 0/1, -1 = unspecified */
    int colorprim, transfer, colmatrix; /* VUI colour codes (H.273), -1 = unspecified */
    int log_level;               /* X264_LOG_* (-1 = none: errors reported by the caller) */
} pcx_params;

typedef struct {
    const uint8_t *data; /* valid until the next pcx_encode call */
    int size;            /* bytes; 0 = no packet this call */
    int64_t pts, dts;    /* in timebase units */
    int keyframe;
} pcx_packet;

#define PCX_MAGIC 0x70637832u /* "pcx2": a live handle; cleared by pcx_close */
#define PCX_EBADHANDLE -2       /* not a live encoder (closed, or not one of ours) */
#define PCX_EBADARGS -3         /* planes, strides or offsets that do not fit the encoder */

/* x264 turns adaptive quantisation off at strength 0 (and always in CQP mode), and without AQ
 * it ignores quant_offsets. A strength this small keeps AQ's bookkeeping on while its own
 * offsets stay far below the 0.5 QP that rounding could notice (|log2 energy - 14.4| < 20). */
#define PCX_AQ_BOOKKEEPING 1e-4f

typedef struct {
    unsigned magic;
    x264_t *h;
    x264_param_t param;
    int width, height;
    int force_qp_plus1; /* > 0: every frame at this QP + 1 (constant QP that keeps offsets) */
} pcx_enc;

/* Keys perceptcodec sets itself (rate control, passes, stream framing, timing, level, log):
 * set through its own options, not x264-params. Names as x264_param_parse normalises them
 * ('_' -> '-', a "no"/"no-" prefix dropped). */
static const char *const OWNED[] = {
    "bitrate", "qp", "qp-constant", "crf", "pass", "stats", "vbv-maxrate", "vbv-bufsize",
    "level", "level-idc", "fps", "sar", "annexb", "repeat-headers", "global-header",
    "force-cfr", "interlaced", "tff", "bff", "log", "dump-yuv", "crop-rect", NULL,
};

static int owned(const char *key) {
    char name[64];
    size_t n = strlen(key);
    if (n >= sizeof(name)) return 0;
    memcpy(name, key, n + 1);
    for (char *c = name; *c; c++)
        if (*c == '_') *c = '-';
    const char *bare = name;
    if (!strncmp(bare, "no", 2)) {
        bare += 2;
        if (*bare == '-') bare++;
    }
    for (int i = 0; OWNED[i]; i++)
        if (!strcmp(name, OWNED[i]) || !strcmp(bare, OWNED[i])) return 1;
    return 0;
}

/* Apply "key=value:key=value" with x264_param_parse; a bare key means "true" (booleans).
 * Returns 0, or -1 with the offending key named in err. */
static int parse_params(x264_param_t *q, const char *text, char *err, int errlen) {
    char *copy = strdup(text), *item = copy, *next;
    if (!copy) { set_err(err, errlen, "out of memory"); return -1; }
    for (; item; item = next) {
        next = strchr(item, ':');
        if (next) *next++ = '\0';
        char *value = strchr(item, '=');
        if (value) *value++ = '\0';
        if (!*item) continue;
        if (owned(item)) {
            if (err && errlen > 0)
                snprintf(err, (size_t)errlen,
                         "x264 parameter '%s' is set by perceptcodec's own options "
                         "(--bitrate/--crf/--qp/--two-pass/--vbv-*/--level/...), not x264-params",
                         item);
            free(copy);
            return -1;
        }
        int rc = x264_param_parse(q, item, value);
        if (rc != 0) {
            if (err && errlen > 0) {
                if (rc == X264_PARAM_BAD_NAME)
                    snprintf(err, (size_t)errlen, "unknown x264 parameter '%s'", item);
                else if (rc == X264_PARAM_BAD_VALUE && !value)
                    snprintf(err, (size_t)errlen, "x264 parameter '%s' needs a value", item);
                else if (rc == X264_PARAM_BAD_VALUE)
                    snprintf(err, (size_t)errlen, "bad value '%s' for x264 parameter '%s'",
                             value ? value : "", item);
                else
                    snprintf(err, (size_t)errlen, "out of memory parsing x264 parameter '%s'", item);
            }
            free(copy);
            return -1;
        }
    }
    free(copy);
    return 0;
}

/* Check x264-params on a scratch x264_param_t (nothing is opened): 0, or -1 with the
 * offending key named in err. */
int pcx_check_params(const char *text, char *err, int errlen) {
    x264_param_t scratch;
    if (!text) return 0;
    x264_param_default(&scratch);
    int rc = parse_params(&scratch, text, err, errlen);
    x264_param_cleanup(&scratch);
    return rc;
}

/* Whether x264_param_apply_profile accepts profile for 8-bit I420 input: 0, or -1. */
int pcx_check_profile(const char *profile) {
    x264_param_t scratch;
    x264_param_default(&scratch);
    scratch.i_csp = X264_CSP_I420;
    scratch.i_bitdepth = 8;
    scratch.i_log_level = X264_LOG_NONE;
    int rc = x264_param_apply_profile(&scratch, profile);
    x264_param_cleanup(&scratch);
    return rc < 0 ? -1 : 0;
}

static int live(const pcx_enc *e) { return e && e->magic == PCX_MAGIC && e->h; }

int pcx_build(void) { return X264_BUILD; }

pcx_enc *pcx_open(const pcx_params *p, char *err, int errlen) {
    if (!p || p->width < 16 || p->height < 16 || p->width % 2 || p->height % 2 ||
        p->fps_num <= 0 || p->fps_den <= 0 || p->timebase_num <= 0 || p->timebase_den <= 0 ||
        p->pass < 0 || p->pass > 2 || (p->pass && !p->stats_path)) {
        set_err(err, errlen, "invalid encoder parameters");
        return NULL;
    }
    pcx_enc *e = calloc(1, sizeof(*e));
    if (!e) { set_err(err, errlen, "out of memory"); return NULL; }
    if (x264_param_default_preset(&e->param, p->preset, p->tune) < 0) {
        set_err(err, errlen, "unknown x264 preset or tune");
        free(e);
        return NULL;
    }
    x264_param_t *q = &e->param;
    q->i_csp = X264_CSP_I420;
    q->i_width = p->width;
    q->i_height = p->height;
    q->i_fps_num = (uint32_t)p->fps_num;
    q->i_fps_den = (uint32_t)p->fps_den;
    q->i_timebase_num = (uint32_t)p->timebase_num;
    q->i_timebase_den = (uint32_t)p->timebase_den;
    q->b_vfr_input = p->vfr;
    q->b_annexb = 1;
    q->b_repeat_headers = 0;
    q->i_log_level = p->log_level; /* X264_LOG_NONE by default: the caller reports errors */
    q->i_threads = p->threads > 0 ? p->threads : X264_THREADS_AUTO;
    if (p->keyint > 0) q->i_keyint_max = p->keyint;
    switch (p->rc_mode) {
    case PCX_RC_CRF:
        q->rc.i_rc_method = X264_RC_CRF;
        q->rc.f_rf_constant = p->crf;
        break;
    case PCX_RC_CQP:
        if (p->use_offsets) {
            /* x264's CQP mode switches AQ off, and with it the offsets: run CRF with every
             * frame's QP forced instead, MB-tree off, so a MB's QP is exactly qp + offset. */
            q->rc.i_rc_method = X264_RC_CRF;
            q->rc.f_rf_constant = (float)p->qp;
            q->rc.b_mb_tree = 0;
            q->rc.i_qp_max = 51;
            q->rc.i_aq_mode = X264_AQ_NONE; /* set to bookkeeping below */
            e->force_qp_plus1 = p->qp + 1;
        } else {
            q->rc.i_rc_method = X264_RC_CQP;
            q->rc.i_qp_constant = p->qp;
        }
        break;
    default:
        q->rc.i_rc_method = X264_RC_ABR;
        q->rc.i_bitrate = p->bitrate_kbps;
        break;
    }
    if (p->sar_width > 0 && p->sar_height > 0) {
        q->vui.i_sar_width = p->sar_width;
        q->vui.i_sar_height = p->sar_height;
    }
    if (p->vbv_maxrate_kbps > 0) q->rc.i_vbv_max_bitrate = p->vbv_maxrate_kbps;
    if (p->vbv_bufsize_kbit > 0) q->rc.i_vbv_buffer_size = p->vbv_bufsize_kbit;
    if (p->level_idc > 0) q->i_level_idc = p->level_idc;
    /* The input's colour description (unset fields keep x264's "undefined"). */
    if (p->fullrange >= 0) q->vui.b_fullrange = p->fullrange;
    if (p->colorprim >= 0) q->vui.i_colorprim = p->colorprim;
    if (p->transfer >= 0) q->vui.i_transfer = p->transfer;
    if (p->colmatrix >= 0) q->vui.i_colmatrix = p->colmatrix;
    if (p->pass == 1) {
        q->rc.b_stat_write = 1;
        q->rc.psz_stat_out = (char *)p->stats_path;
    } else if (p->pass == 2) {
        q->rc.b_stat_read = 1;
        q->rc.psz_stat_in = (char *)p->stats_path;
    }
    /* x264-params last among the settings, so they win over the preset, the tune and ours
     * (keys that would undo ours are refused by parse_params). */
    if (p->x264_params && *p->x264_params && parse_params(q, p->x264_params, err, errlen) < 0) {
        x264_param_cleanup(q);
        free(e);
        return NULL;
    }
    /* x264 ignores quant_offsets when adaptive quantisation is off (preset ultrafast):
     * keep AQ's bookkeeping on with zero strength so the offsets still apply. */
    if (p->use_offsets && (q->rc.i_aq_mode == X264_AQ_NONE || q->rc.f_aq_strength <= 0.0f)) {
        q->rc.i_aq_mode = X264_AQ_VARIANCE;
        q->rc.f_aq_strength = PCX_AQ_BOOKKEEPING;
    }
    const char *profile = p->profile && *p->profile ? p->profile : "high";
    if (x264_param_apply_profile(q, profile) < 0) {
        if (err && errlen > 0)
            snprintf(err, (size_t)errlen, "x264 rejected profile '%s' with these settings",
                     profile);
        x264_param_cleanup(q);
        free(e);
        return NULL;
    }
    if (p->pass == 1) x264_param_apply_fastfirstpass(q);
    e->h = x264_encoder_open(q);
    x264_param_cleanup(q); /* strings x264-params allocated: the encoder holds its own copies */
    if (!e->h) {
        set_err(err, errlen, p->pass == 2 ? "x264 could not open (pass-1 statistics missing or unreadable?)"
                                          : "x264 could not open an encoder with these settings");
        free(e);
        return NULL;
    }
    x264_encoder_parameters(e->h, &e->param);
    e->width = p->width;
    e->height = p->height;
    e->magic = PCX_MAGIC;
    return e;
}

/* SPS and PPS (Annex B) into buf; returns bytes written, or -1 if cap is too small. */
int pcx_headers(pcx_enc *e, uint8_t *buf, int cap) {
    x264_nal_t *nal;
    int n, len = 0;
    if (!live(e)) return PCX_EBADHANDLE;
    if (!buf || cap < 0) return PCX_EBADARGS;
    if (x264_encoder_headers(e->h, &nal, &n) < 0) return -1;
    for (int i = 0; i < n; i++) {
        if (nal[i].i_type != NAL_SPS && nal[i].i_type != NAL_PPS) continue;
        if (len + nal[i].i_payload > cap) return -1;
        memcpy(buf + len, nal[i].p_payload, (size_t)nal[i].i_payload);
        len += nal[i].i_payload;
    }
    return len;
}

static int emit(x264_nal_t *nal, int n, int size, const x264_picture_t *out, pcx_packet *pkt) {
    pkt->size = size > 0 ? size : 0;
    pkt->data = size > 0 ? nal[0].p_payload : NULL; /* x264 lays a frame's NALs out contiguously */
    pkt->pts = out->i_pts;
    pkt->dts = out->i_dts;
    pkt->keyframe = out->b_keyframe;
    (void)n;
    return size;
}

/* Encode one frame (y != NULL) or drain one delayed frame (y == NULL).
 * qp_offsets: NULL or ceil(W/16) * ceil(H/16) floats. Returns packet bytes (>= 0), -1 when
 * x264 fails, PCX_EBADHANDLE or PCX_EBADARGS. */
int pcx_encode(pcx_enc *e, const uint8_t *y, const uint8_t *u, const uint8_t *v,
               int stride_y, int stride_uv, int64_t pts, const float *qp_offsets,
               pcx_packet *pkt) {
    x264_picture_t in, out;
    x264_nal_t *nal = NULL;
    int n = 0, size;
    if (!live(e)) return PCX_EBADHANDLE;
    if (!pkt) return PCX_EBADARGS;
    memset(pkt, 0, sizeof(*pkt));
    x264_picture_init(&out);
    if (y) {
        if (!u || !v || stride_y < e->width || stride_uv < (e->width + 1) / 2) return PCX_EBADARGS;
        x264_picture_init(&in);
        in.img.i_csp = X264_CSP_I420;
        in.img.i_plane = 3;
        in.img.plane[0] = (uint8_t *)y;
        in.img.plane[1] = (uint8_t *)u;
        in.img.plane[2] = (uint8_t *)v;
        in.img.i_stride[0] = stride_y;
        in.img.i_stride[1] = stride_uv;
        in.img.i_stride[2] = stride_uv;
        in.i_pts = pts;
        in.i_type = X264_TYPE_AUTO;
        in.prop.quant_offsets = (float *)qp_offsets; /* copied by x264 during this call */
        in.prop.quant_offsets_free = NULL;
        in.i_qpplus1 = e->force_qp_plus1;
        size = x264_encoder_encode(e->h, &nal, &n, &in, &out);
    } else {
        if (!x264_encoder_delayed_frames(e->h)) return 0;
        size = x264_encoder_encode(e->h, &nal, &n, NULL, &out);
    }
    if (size < 0) return -1;
    return emit(nal, n, size, &out, pkt);
}

int pcx_delayed(pcx_enc *e) { return live(e) ? x264_encoder_delayed_frames(e->h) : PCX_EBADHANDLE; }

/* Closing writes the pass-1 statistics file. A handle that is not live is left alone. */
void pcx_close(pcx_enc *e) {
    if (!live(e)) return;
    e->magic = 0;
    x264_encoder_close(e->h);
    e->h = NULL;
    free(e);
}
