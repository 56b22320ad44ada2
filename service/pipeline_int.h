/* pipeline_int.h: pipeline internals for tests (svc__ names). */
#ifndef WIGGLY_SERVICE_PIPELINE_INT_H
#define WIGGLY_SERVICE_PIPELINE_INT_H

#include "service/pipeline.h"
#include "service/processor.h"

/* What the processor reported for the item (after its worker job ended). */
const struct svc_proc_result *svc__item_proc_result(const struct svc_item *it);

#endif
