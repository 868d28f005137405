## Reference outputs of R `surveillance` 1.20.3 for the Python detectors' side-by-side tests.
## Usage (from the project root): Rscript bench/r/golden_extended.R ../shared/data/surveillance tests/surveillance/data
## Writes r_golden_extended.csv: dataset, config, t (1-based), observed, upperbound, alarm, pvalue, expected.
suppressPackageStartupMessages(library(surveillance))
options(warn = -1)
args <- commandArgs(trailingOnly = TRUE)
src <- if (length(args) >= 1) args[1] else "../shared/data/surveillance"
out <- if (length(args) >= 2) args[2] else "tests/surveillance/data"
rows <- list()
keep <- function(ds, cfg, res, rng, pv = NULL, ex = NULL) {
  n <- length(rng)
  rows[[length(rows) + 1]] <<- data.frame(dataset = ds, config = cfg, t = rng,
    observed = as.numeric(observed(res)[, 1]), upperbound = signif(as.numeric(upperbound(res)[, 1]), 15),
    alarm = as.integer(alarms(res)[, 1]),
    pvalue = if (is.null(pv)) rep(NA, n) else signif(as.numeric(pv), 15),
    expected = if (is.null(ex)) rep(NA, n) else signif(as.numeric(ex), 15))
}
run <- function(ds, x, rng, b) {
  for (m in c("C1", "C2", "C3")) keep(ds, paste0("ears_", m), earsC(x, control = list(range = rng, method = m)), rng)
  keep(ds, "ears_C2_a05_sigma", earsC(x, control = list(range = rng, method = "C2", alpha = 0.05, minSigma = 0.5)), rng)
  ff <- list(
    farrington = list(noPeriods = 1, b = b, w = 3, weightsThreshold = 1, pastWeeksNotIncluded = 3,
                      pThresholdTrend = 0.05, thresholdMethod = "delta", alpha = 0.05),
    farrington_a01_w2 = list(noPeriods = 1, b = b, w = 2, weightsThreshold = 1, pastWeeksNotIncluded = 2,
                      pThresholdTrend = 0.05, thresholdMethod = "delta", alpha = 0.01),
    farrington_default = list(b = b),
    noufaily = list(noPeriods = 10, b = b, w = 3, weightsThreshold = 2.58, pastWeeksNotIncluded = 26,
                    pThresholdTrend = 1, thresholdMethod = "nbPlugin", alpha = 0.05),
    noufaily_a01 = list(noPeriods = 10, b = b, w = 3, weightsThreshold = 2.58, pastWeeksNotIncluded = 26,
                    pThresholdTrend = 1, thresholdMethod = "nbPlugin", alpha = 0.01),
    noufaily_muan = list(noPeriods = 10, b = b, w = 3, weightsThreshold = 2.58, pastWeeksNotIncluded = 26,
                    pThresholdTrend = 1, thresholdMethod = "muan", alpha = 0.05))
  for (nm in names(ff)) {
    r <- tryCatch(farringtonFlexible(x, control = modifyList(ff[[nm]], list(range = rng, glmWarnings = FALSE))),
                  error = function(e) { message(ds, " ", nm, ": ", conditionMessage(e)); NULL })
    if (!is.null(r)) keep(ds, nm, r, rng, r@control$pvalue[, 1], r@control$expected[, 1])
  }
  r <- cusum(x, control = list(range = rng, k = 1.04, h = 2.26, m = NULL, trans = "standard"))
  keep(ds, "cusum_standard", r, rng)
}
rki <- c("k1", "m1", "m2", "m3", "m4", "m5", "n1", "n2", "q1_nrwh", "s1", "s3", "h1_nrwrp")
for (nm in rki) {
  d <- read.csv(file.path(src, "r-surveillance-data", paste0(nm, ".csv")))
  x <- sts(observed = d$observed, state = d$state, frequency = 52, start = c(2001, 1))
  run(nm, x, 160:209, b = 3)
}
d <- read.csv(file.path(src, "r-surveillance-data", "salmonella.agona.csv"))
run("salmonella.agona", sts(observed = d$observed, frequency = 52, start = c(1990, 1)), 270:312, b = 5)
d <- read.csv(file.path(src, "r-surveillance-data", "hepatitisA.csv"))
run("hepatitisA", sts(observed = d$observed, frequency = 52, start = c(2001, 1)), 165:208, b = 3)
d <- read.csv(file.path(src, "r-surveillance-data", "campyDE.csv"))
run("campyDE", sts(epoch = as.Date(d$date), observed = d$case, frequency = 52), 471:522, b = 5)
d <- read.csv(file.path(src, "r-surveillance-data", "salmHospitalized.csv"))
run("salmHospitalized", sts(epoch = as.Date(d$epoch), observed = d[[2]], frequency = 52), 479:530, b = 5)
g <- do.call(rbind, rows)
write.csv(g, file.path(out, "r_golden_extended.csv"), row.names = FALSE)
cat("rows:", nrow(g), " alarms:", sum(g$alarm, na.rm = TRUE), "\n")
