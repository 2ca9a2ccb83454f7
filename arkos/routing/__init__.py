"""Route options, the request pipeline, interceptors and ArkosRouter."""
