## Times R's farringtonFlexible (Noufaily and Farrington configurations) on the first replicate of
## each scenario of bench/out/nsim_series.csv, weeks 576-624, so Python's timing has its R anchor
## measured on the same machine, at the same moment, on the same series.
## Usage: Rscript bench/r/nsim_timing.R bench/out
suppressPackageStartupMessages(library(surveillance))
options(warn = -1)
args <- commandArgs(trailingOnly = TRUE)
OUT <- if (length(args) >= 1) args[1] else "bench/out"
d <- read.csv(file.path(OUT, "nsim_series.csv"))
d <- d[d$rep == 1, ]
CUR <- 576:624
ctrl <- list(
  noufaily = list(noPeriods=10, b=5, w=3, weightsThreshold=2.58, pastWeeksNotIncluded=26, pThresholdTrend=1,
                  thresholdMethod="nbPlugin", alpha=0.05, glmWarnings=FALSE, range=CUR),
  farrington = list(noPeriods=1, b=5, w=3, weightsThreshold=1, pastWeeksNotIncluded=3, pThresholdTrend=0.05,
                    thresholdMethod="delta", alpha=0.05, glmWarnings=FALSE, range=CUR))
series <- lapply(d$y, function(txt) sts(observed=as.numeric(strsplit(txt, " ")[[1]]), frequency=52, start=c(2000, 1)))
res <- data.frame()
for (nm in names(ctrl)) {
  t0 <- proc.time()[["elapsed"]]
  for (s in series) farringtonFlexible(s, control=ctrl[[nm]])
  el <- proc.time()[["elapsed"]] - t0
  res <- rbind(res, data.frame(method=nm, ms_per_week=1000 * el / (length(series) * length(CUR))))
}
write.csv(res, file.path(OUT, "nsim_r_timing_now.csv"), row.names=FALSE)
print(res)
