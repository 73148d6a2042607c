# Kaplan-Meier (survival::survfit), median and its CI (quantile.survfit), landmark survival
# (summary.survfit(times=)), reverse Kaplan-Meier for median follow-up. Output: km.json
source(file.path(dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1]))), "common.R"))
suppressPackageStartupMessages(library(survival))

curve <- function(fit) {
  q <- quantile(fit, probs = 0.5)
  list(n = fit$n, time = I(fit$time), n_risk = I(fit$n.risk), n_event = I(fit$n.event), n_censor = I(fit$n.censor),
       surv = I(fit$surv), std_err = I(fit$std.err), lower = I(fit$lower), upper = I(fit$upper),
       median = unname(q$quantile), median_lower = unname(q$lower), median_upper = unname(q$upper),
       print_median = unname(summary(fit)$table[c("median", "0.95LCL", "0.95UCL")]))
}
by_group <- function(formula, data, type) {
  fit <- survfit(formula, data = data, conf.type = type)
  out <- list()
  for (i in seq_along(fit$strata)) out[[names(fit$strata)[i]]] <- curve(fit[i])
  out
}
types <- c("log", "log-log", "plain")
lung <- read_data("lung")
small <- read_data("small")
vet <- read_data("veteran")
res <- list()
for (type in types) {
  res[[paste0("lung_", type)]] <- curve(survfit(Surv(time, status) ~ 1, data = lung, conf.type = type))
  res[[paste0("lung_inst_", type)]] <- by_group(Surv(time, status) ~ inst, lung, type)
  res[[paste0("lung_sex_", type)]] <- by_group(Surv(time, status) ~ sex, lung, type)
  res[[paste0("veteran_", type)]] <- curve(survfit(Surv(time, status) ~ 1, data = vet, conf.type = type))
  for (case in c("ties", "flat", "lastflat")) {
    d <- small[small$case == case, ]
    res[[paste0(case, "_", type)]] <- curve(survfit(Surv(time, status > 0) ~ 1, data = d, conf.type = type))
  }
  res[[paste0("reverse_lung_", type)]] <- curve(survfit(Surv(time, 1 - status) ~ 1, data = lung, conf.type = type))
}
times <- c(0, 5, 100, 365, 500, 730, 1000, 1022)
for (type in types) {
  s <- summary(survfit(Surv(time, status) ~ 1, data = lung, conf.type = type), times = times)
  res[[paste0("landmark_lung_", type)]] <- list(times = I(s$time), n_risk = I(s$n.risk), n_event = I(s$n.event),
                                               surv = I(s$surv), std_err = I(s$std.err), lower = I(s$lower), upper = I(s$upper))
}
s <- summary(survfit(Surv(time, status > 0) ~ 1, data = small[small$case == "ties", ]), times = c(0, 0.5, 3, 7, 12))
res[["landmark_ties_log"]] <- list(times = I(s$time), n_risk = I(s$n.risk), n_event = I(s$n.event),
                                    surv = I(s$surv), std_err = I(s$std.err), lower = I(s$lower), upper = I(s$upper))
write_json(res, "km.json")
