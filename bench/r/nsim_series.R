## The Noufaily et al. (2013) simulation design, exactly as ../shared/data/surveillance/scripts/nsim.R
## draws it (same seeds, same order of random draws), written out so that the Python detectors run
## on the very series R's farringtonFlexible/earsC ran on. Also times R's farringtonFlexible.
## Usage: Rscript bench/r/nsim_series.R N_REP out_dir
suppressPackageStartupMessages(library(surveillance))
options(warn = -1)
args <- commandArgs(trailingOnly = TRUE)
NREP <- if (length(args) >= 1) as.integer(args[1]) else 10
OUT <- if (length(args) >= 2) args[2] else "bench/out"
base <- data.frame(theta=c(0.1,-2,1.5,0.5,2.5,3.75,5), beta=c(0.0025,0.005,0.003,0.002,0.001,0.001,0.0001),
                   gamma1=c(0.6,0.1,0.2,0.5,1,0.1,0.05), gamma2=c(0.6,0.3,-0.4,0.5,0.1,-0.1,0.01),
                   phi=c(1.5,2,1,5,3,1.1,1.2))
sc <- do.call(rbind, lapply(1:7, function(i) do.call(rbind, lapply(0:1, function(tr) do.call(rbind, lapply(0:2, function(m)
  data.frame(group=i, theta=base$theta[i], beta=ifelse(tr==1, base$beta[i], 0), gamma1=ifelse(m>0, base$gamma1[i], 0),
             gamma2=ifelse(m>0, base$gamma2[i], 0), m=m, trend=tr, phi=base$phi[i])))))))
sc$scenario <- seq_len(nrow(sc))
N <- 624; BASE_WEEKS <- 313:575; CUR <- 576:624
mu_t <- function(p, t) { s <- 0; if (p$m > 0) for (j in 1:p$m) s <- s + p$gamma1*cos(2*pi*j*t/52) + p$gamma2*sin(2*pi*j*t/52); exp(p$theta + p$beta*t + s) }
rcount <- function(mu, phi) if (phi > 1) rnbinom(length(mu), mu=mu, size=mu/(phi-1)) else rpois(length(mu), mu)
add_outbreak <- function(y, t0, k, mu, phi) {
  n <- rpois(1, k * sqrt(phi * mu[t0]))
  w <- t0 + floor(rlnorm(n, 0, 0.5)); w <- w[w <= length(y)]
  if (length(w)) { tab <- table(w); idx <- as.integer(names(tab)); y[idx] <- y[idx] + as.integer(tab) }
  list(y=y, n=n, weeks=if (length(w)) sort(unique(w)) else integer(0))
}
rows <- list(); timings <- list()
ctrl_nouf <- list(noPeriods=10, b=5, w=3, weightsThreshold=2.58, pastWeeksNotIncluded=26, pThresholdTrend=1,
                  thresholdMethod="nbPlugin", alpha=0.05, glmWarnings=FALSE)
ctrl_orig <- list(noPeriods=1, b=5, w=3, weightsThreshold=1, pastWeeksNotIncluded=3, pThresholdTrend=0.05,
                  thresholdMethod="delta", alpha=0.05, glmWarnings=FALSE)
for (rep in seq_len(NREP)) for (si in seq_len(nrow(sc))) {
  p <- sc[si, ]; set.seed(1000 * p$scenario + rep)
  mu <- mu_t(p, 1:N); y <- rcount(mu, p$phi)
  ks <- sample(c(2,3,5,10), 4, replace=TRUE); starts <- sample(BASE_WEEKS, 4)
  for (i in 1:4) y <- add_outbreak(y, starts[i], ks[i], mu, p$phi)$y
  kc <- ((rep - 1) %% 10) + 1; tc <- sample(CUR, 1)
  ob <- add_outbreak(y, tc, kc, mu, p$phi); y2 <- ob$y
  ow <- ob$weeks[ob$weeks %in% CUR]
  rows[[length(rows) + 1]] <- data.frame(scenario=p$scenario, rep=rep, k=kc, outbreak_cases=ob$n,
    outbreak_weeks=paste(ow, collapse=" "), y=paste(y, collapse=" "), y2=paste(y2, collapse=" "))
  if (rep == 1) {
    s <- sts(observed=y, frequency=52, start=c(2000,1))
    for (nm in c("noufaily", "farrington")) {
      ctrl <- modifyList(if (nm == "noufaily") ctrl_nouf else ctrl_orig, list(range=CUR))
      t0 <- proc.time()[["elapsed"]]; r <- farringtonFlexible(s, control=ctrl); el <- proc.time()[["elapsed"]] - t0
      timings[[length(timings) + 1]] <- data.frame(scenario=p$scenario, method=nm, points=length(CUR), seconds=el)
    }
  }
}
write.csv(do.call(rbind, rows), file.path(OUT, "nsim_series.csv"), row.names=FALSE)
tm <- do.call(rbind, timings)
write.csv(tm, file.path(OUT, "nsim_r_timings.csv"), row.names=FALSE)
print(aggregate(seconds ~ method, data=tm, FUN=function(s) 1000 * sum(s) / (length(s) * length(CUR))))
