# Cumulative incidence (cmprsk::cuminc): estimates, delta-method variances, values at times
# (cmprsk::timepoints) and Gray's test; and survival::survfit's Aalen-Johansen with its
# infinitesimal-jackknife standard errors. Output: cuminc.json
source(file.path(dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1]))), "common.R"))
suppressPackageStartupMessages({library(survival); library(cmprsk)})
one <- function(ci, times) {
  tests <- ci$Tests
  curves <- ci[names(ci) != "Tests"]
  out <- list(curves = lapply(curves, function(z) list(time = I(z$time), est = I(z$est), var = I(z$var))))
  tp <- timepoints(ci, times)
  out$at <- list(times = I(times), names = I(rownames(tp$est)), est = tp$est, var = tp$var)
  if (!is.null(tests)) out$tests <- list(causes = I(rownames(tests)), stat = I(unname(tests[, "stat"])),
                                         pv = I(unname(tests[, "pv"])), df = I(unname(tests[, "df"])))
  out
}
aj <- function(time, status) {
  fit <- survfit(Surv(time, factor(status, levels = sort(unique(c(0, status))))) ~ 1)
  list(time = I(fit$time), states = I(fit$states), pstate = fit$pstate, std_err = fit$std.err)
}
bmt <- read_data("bmt"); small <- read_data("small")
ties <- small[small$case == "ties", ]
res <- list(
  bmt_dis = one(cuminc(bmt$time, bmt$status, bmt$dis), c(0, 5, 10, 20, 50, 100, 150)),
  bmt_all = one(cuminc(bmt$time, bmt$status), c(0, 5, 10, 20, 50, 100, 150)),
  ties_group = one(cuminc(ties$time, ties$status, ties$group), c(0, 1, 2.5, 6, 12, 13)),
  ties_group_rho1 = one(cuminc(ties$time, ties$status, ties$group, rho = 1), c(0, 6)),
  aj_bmt = aj(bmt$time, bmt$status),
  aj_ties = aj(ties$time, ties$status)
)
write_json(res, "cuminc.json")
