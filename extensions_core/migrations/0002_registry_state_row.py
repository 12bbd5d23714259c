from django.db import migrations


def create_marker(apps, schema_editor):
    apps.get_model("extensions_core", "RegistryState").objects.get_or_create(pk=1, defaults={"generation": 0})


class Migration(migrations.Migration):
    dependencies = [("extensions_core", "0001_initial")]

    operations = [migrations.RunPython(create_marker, migrations.RunPython.noop)]
