from ioc_hub.cli import app

app(prog_name="ioc-hub")
