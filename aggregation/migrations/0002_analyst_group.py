"""The "analyst" group: its members read the reports of the surveys assigned to them."""

from django.db import migrations

ANALYST_GROUP = "analyst"  # aggregation.selectors.ANALYST_GROUP at the time of writing


def create_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name=ANALYST_GROUP)


class Migration(migrations.Migration):
    dependencies = [("aggregation", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_group, migrations.RunPython.noop)]
