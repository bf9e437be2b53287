/*
 * xai_internal.h — shared by xai.c and the xai_*.c files only; not installed.
 * The configuration, an HTTP answer, the provider object, list prices, the
 * identity of a billed request, and the helpers one part lends another.
 * Short names are macros for gs_xi_* symbols.
 */
#ifndef GS_XAI_INTERNAL_H
#define GS_XAI_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "gs_provider.h"
#include "json.h"

typedef struct xai_cfg {
    char base_url[512];
    char key[512];
    char text_model[96], vision_model[96], image_model[96], edit_model[96], video_model[96];
    double timeout_s, video_timeout_s, connect_timeout_s, max_retry_after_s;
    int poll_ms, retries, retry_base_ms, retry_max_ms, max_concurrency;
} xai_cfg;

typedef struct xresp {
    long status;
    char *body;
    size_t len, cap;
    int oom;
    FILE *sink;                 /* downloads: the body goes here */
    int sink_errno;             /* why writing to sink failed (ENOSPC...) */
    char request_id[128];       /* the service's x-request-id header */
    double retry_after;         /* seconds; < 0 when absent */
    int sent;                   /* bytes of the request went out: the server may have it */
} xresp;

typedef struct xai_provider {
    gs_provider base;
    xai_cfg cfg;
} xai_provider;

/* What a download says (xai_http.c). */
enum { DL_OK = 0, DL_FAIL = -1, DL_EXPIRED = -3 };

/* List prices (xai-api.md §6), when an answer names no cost. */
#define TICKS_IMAGE 200000000LL             /* $0.02 per image; an edit also per input image */
#define TICKS_VIDEO_480_S 500000000LL       /* $0.05 / s */
#define TICKS_VIDEO_720_S 700000000LL       /* $0.07 / s */
#define TICKS_VIDEO_INPUT_IMAGE 20000000LL  /* $0.002 for an image-to-video input (3rd: a measured bill) */
#define TICKS_TEXT_IN 2000LL                /* $0.20 / M tokens */
#define TICKS_TEXT_OUT 5000LL               /* $0.50 / M tokens */

/* One request's identity for its charges. */
typedef struct bill {
    gs_meter *m;
    const char *endpoint;       /* "POST /images/edits" */
    const char *model;
    char id[128];               /* the service's request id once known, else our client id */
} bill;

/* What http_call says of a request (xai_http.c). */
enum { CALL_OK = 0, CALL_FAILED = -1, CALL_UNSURE = -6 };

#define answered_error gs_xi_answered_error
#define api_error gs_xi_api_error
#define bill_charge gs_xi_bill_charge
#define chat_json gs_xi_chat_json
#define contains_ci gs_xi_contains_ci
#define download gs_xi_download
#define http_call gs_xi_http_call
#define jw_data_url gs_xi_jw_data_url
#define new_client_id gs_xi_new_client_id
#define post gs_xi_post
#define resp_reset gs_xi_resp_reset
#define server_message gs_xi_server_message
#define sleep_ms gs_xi_sleep_ms
#define usage_ticks gs_xi_usage_ticks
#define video_list_ticks gs_xi_video_list_ticks
#define write_b64_file gs_xi_write_b64_file
#define xai_edit_image gs_xi_xai_edit_image
#define xai_edit_video gs_xi_xai_edit_video
#define xai_generate_image gs_xi_xai_generate_image
#define xai_generate_video gs_xi_xai_generate_video
#define xai_plan_story gs_xi_xai_plan_story
#define xai_resume_video gs_xi_xai_resume_video
#define xai_reword gs_xi_xai_reword
#define xai_score gs_xi_xai_score

int answered_error(const bill *b, const xresp *r, const jv *j, const char *what, char *err, size_t errlen);
int api_error(const xresp *r, const char *what, char *err, size_t errlen);
void bill_charge(const bill *b, int update, int64_t ticks, int64_t prior, int estimated, const char *outcome,
                 const char *detail);
jv *chat_json(const xai_cfg *c, gs_meter *meter, const char *model, const char *system, const char *text,
              const char *const images[], size_t n_images, const char *schema_name, const char *schema,
              char *err, size_t errlen);
int contains_ci(const char *hay, const char *needle);
int download(const xai_cfg *c, const char *url, const char *out_path, int video, char *err, size_t errlen);
int http_call(const xai_cfg *c, const char *method, const char *url, const char *body, int auth,
              const char *cid, double timeout_s, xresp *r, const char *what, char *err, size_t errlen);
int jw_data_url(jw *w, const char *path, char *err, size_t errlen);
void new_client_id(char *out, size_t len);
int post(const xai_cfg *c, bill *b, const char *path, const char *body, int64_t guess, xresp *r, jv **j,
         char *err, size_t errlen);
void resp_reset(xresp *r);
void server_message(const xresp *r, char *out, size_t len);
void sleep_ms(double ms);
int64_t usage_ticks(const jv *j);
int64_t video_list_ticks(double duration_s, int p480, int with_image);
int write_b64_file(const char *b64, const char *out_path, char *err, size_t errlen);
int xai_edit_image(gs_provider *pp, const char *prompt, const char *const refs[], size_t n_refs,
                   const char *out_path, gs_meter *meter, char *err, size_t errlen);
int xai_edit_video(gs_provider *pp, const char *prompt, const char *video_path, const char *out_path,
                   gs_meter *meter, char *err, size_t errlen);
int xai_generate_image(gs_provider *pp, const char *prompt, const char *aspect, const char *out_path,
                       gs_meter *meter, char *err, size_t errlen);
int xai_generate_video(gs_provider *pp, const char *prompt, const char *image_path, double duration_s,
                       const char *aspect, const char *resolution, const char *out_path, gs_meter *meter,
                       char *err, size_t errlen);
gs_plan *xai_plan_story(gs_provider *pp, const char *concept, int n_scenes, uint64_t seed, gs_meter *meter,
                        char *err, size_t errlen);
int xai_resume_video(gs_provider *pp, const char *request_id, const char *out_path, gs_meter *meter, char *err,
                     size_t errlen);
int xai_reword(gs_provider *pp, const char *prompt, const char *reason, char **out, gs_meter *meter,
               char *err, size_t errlen);
int xai_score(gs_provider *pp, const char *image, const char *const refs[], size_t n_refs,
              const char *const descs[], const char *const names[], size_t n, gs_score *out,
              gs_meter *meter, char *err, size_t errlen);

/* An answer in the 2xx range. */
static inline int is_2xx(const xresp *r) { return r->status >= 200 && r->status < 300; }
/* A refusal answered as an error (HTTP 400 naming moderation, xai-api.md §5). */
static inline int refusal_400(const xresp *r)
{
    return r->status == 400 && r->body && contains_ci(r->body, "moderation");
}

#endif
