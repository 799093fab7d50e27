#ifndef FLYWHEEL_CZSTD_SHIM_H
#define FLYWHEEL_CZSTD_SHIM_H
#include <zstd.h>
#include <zdict.h>
#endif
