/* radars-cl: memory-efficient neural architecture search on OpenCL. One include for the whole API. */
#ifndef RADARS_RADARS_H
#define RADARS_RADARS_H
#include "radars/common.h"
#include "radars/device.h"
#include "radars/tensor.h"
#include "radars/comm.h"
#include "radars/ops.h"
#include "radars/io.h"
#include "radars/data.h"
#include "radars/supernet.h"
#include "radars/genotype.h"
#include "radars/network.h"
#include "radars/tune.h"
#include "radars/search.h"
#include "radars/plot.h"
#include "radars/train.h"
#endif
